# rsyslog receiving the audit export (deploy/rsyslog.conf is mounted at /etc/rsyslog.conf).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends rsyslog && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/spool/rsyslog /var/log/mcp-acp
EXPOSE 514
CMD ["rsyslogd", "-n", "-f", "/etc/rsyslog.conf"]
