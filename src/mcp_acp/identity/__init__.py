"""Who is making requests: the local OS user now; OIDC tokens with the identity feature."""
