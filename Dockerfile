# syntax=docker/dockerfile:1
# Build: docker build -t hookfence .
# Run:   docker run -p 8080:8080 -v $PWD/config:/etc/hookfence:ro -e GITHUB_WEBHOOK_SECRET=... hookfence

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src ./src
COPY examples ./examples
COPY benches ./benches
RUN cargo build --release --locked --bin hookfence

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home hookfence
COPY --from=build /src/target/release/hookfence /usr/local/bin/hookfence
USER hookfence
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/hookfence"]
CMD ["run", "--config", "/etc/hookfence/hookfence.toml"]
