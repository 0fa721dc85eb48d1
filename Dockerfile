# syntax=docker/dockerfile:1
# Build: docker build -t hookfence .
# Run:   docker run -p 8080:8080 -v $PWD/config:/etc/hookfence:ro -e GITHUB_WEBHOOK_SECRET=... hookfence
# The config must listen on 0.0.0.0 inside the container (and admin_listen too,
# if Prometheus or probes reach it from outside).

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src ./src
COPY examples ./examples
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin hookfence \
    && cp target/release/hookfence /usr/local/bin/hookfence

FROM debian:bookworm-slim
# ca-certificates: the system roots for https:// upstreams, rediss:// and
# `hookfence sign --send https://...`.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home hookfence \
    && mkdir -p /var/lib/hookfence && chown 10001 /var/lib/hookfence
COPY --from=build /usr/local/bin/hookfence /usr/local/bin/hookfence
# The embedded delivery queue's data_dir, when a config puts it here; mount
# a volume on it so that queued deliveries outlive the container.
VOLUME /var/lib/hookfence
USER 10001
EXPOSE 8080 8443 9090
# SIGTERM drains in-flight deliveries and exits when they are done
# (shutdown_grace at most); SIGHUP or a changed file reloads the config.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hookfence"]
CMD ["run", "--config", "/etc/hookfence/hookfence.toml"]
