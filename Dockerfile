# Placeholder image: builds and runs the stdio server. The packaging work (non-root user, HTTP
# health check, read-only root filesystem, compose example) replaces this file.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/halo-mcp /usr/local/bin/halo-mcp
ENTRYPOINT ["halo-mcp"]
