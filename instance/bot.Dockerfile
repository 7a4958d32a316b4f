# syntax=docker/dockerfile:1.7
# The bot: `prequel serve` with the AWS backends, on distroless (no shell, no package manager),
# as the non-root user 65532 (the ECS task definition runs it with that uid, read-only root).
#
#   docker build -f instance/bot.Dockerfile -t "$BOT_REPO:$TAG" .      # from the repository root
#
# The Rust build runs on the build machine's platform; build on the platform the bot runs on
# (X86_64 by default, the architecture Fargate Spot supports).

FROM rust:1.90-slim-bookworm AS build
WORKDIR /src
COPY . .
# The lock file pins every crate; the build cache mounts keep rebuilds fast.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p prequel-bot --features aws \
 && cp target/release/prequel /usr/local/bin/prequel

# glibc (the binary is dynamically linked against it), CA certificates, nonroot user 65532.
# checkov:skip=CKV_DOCKER_2: distroless has no shell or HTTP client to run a HEALTHCHECK with; ECS relies on the load balancer's check of /healthz instead.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/prequel /usr/local/bin/prequel
USER 65532:65532
ENV PREQUEL_LISTEN=0.0.0.0:8080 \
    PREQUEL_BACKEND=aws
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/prequel"]
CMD ["serve"]
