"""Who is making requests: the local OS user, or an OIDC user whose access token is verified on every
request (device-flow sign-in, token storage and renewal, JWT checks against the issuer's keys)."""
