# syntax=docker/dockerfile:1
#
# halo-mcp: MCP server for the Halo PSA / Halo ITSM REST API, as a small non-root image.
#
# Build (BuildKit, the default builder since Docker 23):
#   docker build -t halo-mcp:latest .
#
# Run over HTTP (the image's default), with a bearer token. HTTP is never served without
# authentication except on loopback, so MCP_AUTH must be set; publish on loopback and put a TLS
# reverse proxy in front for remote use (then see MCP_PUBLIC_URL / MCP_TRUST_PROXY):
#   docker run -d --name halo-mcp --init --read-only --cap-drop ALL \
#     --security-opt no-new-privileges:true -p 127.0.0.1:3000:3000 \
#     -e HALO_BASE_URL=https://yourcompany.halopsa.com \
#     -e HALO_CLIENT_ID -e HALO_CLIENT_SECRET \
#     -e MCP_AUTH=env -e MCP_AUTH_TOKEN="$(openssl rand -hex 32)" \
#     halo-mcp:latest
#   MCP endpoint: http://localhost:3000/mcp (Authorization: Bearer <token>); health: /health.
#   The Host header must be localhost / 127.0.0.1 / the host of MCP_PUBLIC_URL, or be listed in
#   MCP_ALLOWED_HOSTS.
#
# Demo (built-in simulated Halo, no tenant or credentials), over HTTP:
#   docker run --rm --init -p 127.0.0.1:3000:3000 \
#     -e MCP_AUTH=env -e MCP_AUTH_TOKEN=demo-token-change-me-0123456789 halo-mcp:latest --demo
#
# stdio (an MCP client such as Claude Desktop spawns the container): MCP_TRANSPORT=stdio (or the
# --transport stdio flag) overrides the HTTP default; -i keeps stdin open, --init lets the
# container stop promptly, and the HTTP health check does not apply:
#   docker run -i --rm --init --no-healthcheck -e MCP_TRANSPORT=stdio \
#     -e HALO_BASE_URL -e HALO_CLIENT_ID -e HALO_CLIENT_SECRET halo-mcp:latest
#   (add --demo at the end to try it without a Halo.)
#
# The server writes nothing to disk (logs go to stderr), so a read-only root filesystem works.
# See docker-compose.yml for a hardened compose example and `halo-mcp --help` for every variable.

# Builder: official Rust image on Debian 12, pinned by major version (1 = latest stable, which
# is above the crate's rust-version 1.88 / edition 2024). The slim variant already has gcc and
# libc6-dev, which `ring` needs; no OpenSSL is needed (rustls).
ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-slim-bookworm AS build
ARG TARGETPLATFORM
WORKDIR /src

# Only what the build reads: the manifest and lockfile, the sources, and domains/ (embedded into
# the binary with include_str!). Cargo.toml declares no [[example]]/[[test]]/[[bench]] targets,
# so examples/ and tests/ are not needed for a --bin build (cargo discovers them only if present).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY domains ./domains

# The cargo registry, git checkouts and target/ live in BuildKit cache mounts, so dependencies
# are downloaded and compiled once and reused across builds. target/ is per platform (multi-arch
# builds must not share it). A cache mount is not part of the image, so the binary is copied out.
RUN --mount=type=cache,id=halo-mcp-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=halo-mcp-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=halo-mcp-target-${TARGETPLATFORM},target=/src/target,sharing=locked \
    cargo build --release --locked --bin halo-mcp \
    && install -D -m 0755 target/release/halo-mcp /out/halo-mcp

# Runtime: distroless "cc" (Debian 12) rather than debian:bookworm-slim. It has exactly what the
# binary needs (glibc, libgcc_s, CA certificates for rustls' platform verifier, /etc/passwd with
# the nonroot user 65532) and nothing else: no shell, no package manager, far less to patch.
# The health check therefore uses the binary itself instead of curl.
FROM gcr.io/distroless/cc-debian12:nonroot

# The last label ties the image to its entry in the MCP server registry (server.json).
LABEL org.opencontainers.image.title="halo-mcp" \
      org.opencontainers.image.description="MCP server for the Halo PSA / Halo ITSM REST API: a decision tree of domain tools, light on tokens, with a built-in demo Halo" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/halo-mcp/halo-mcp" \
      io.modelcontextprotocol.server.name="io.github.halo-mcp/halo-mcp"

COPY --from=build /out/halo-mcp /usr/local/bin/halo-mcp
COPY LICENSE-APACHE /usr/share/doc/halo-mcp/LICENSE

# Container defaults: serve MCP over HTTP on all interfaces of the container. Authentication is
# still required: set MCP_AUTH=env with MCP_AUTH_TOKEN (16+ characters), or MCP_AUTH=oauth; the
# server refuses to start otherwise. MCP_TRANSPORT=stdio switches to stdio.
ENV MCP_TRANSPORT=http \
    MCP_BIND=0.0.0.0:3000

# Non-root (distroless "nonroot", uid/gid 65532); nothing is written, so --read-only works.
USER 65532:65532
EXPOSE 3000

# distroless has no curl: `halo-mcp healthcheck` GETs http://127.0.0.1:<port>/health (port from
# MCP_BIND / MCP_PORT, default 3000) and exits 0 only when the server answers {"status":"ok"}.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/halo-mcp", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/halo-mcp"]
