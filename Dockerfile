# segweb: DICOM Segmentations over HTTP.
#   docker build -t segweb .
#   docker run --rm -p 127.0.0.1:8080:8080 -v segweb-data:/data segweb
# Publish on loopback as above (or behind a proxy): `-p 8080:8080` alone publishes on every
# interface of the host. Another port: -e SEGWEB_LISTEN=0.0.0.0:9000 -p 127.0.0.1:9000:9000
# (the health check follows SEGWEB_LISTEN).
# The build stage installs only what building the binary needs
# (scripts/install-deps.sh --build-only) and builds only the segweb target, no tests.

FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j"$(nproc)" --target segweb \
 && test -x build/server/segweb

FROM debian:12-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libdcmtk17 libpng16-16 libjansson4 zlib1g libopenjp2-7 libcharls2 libmicrohttpd12 libsqlite3-0 libcurl4 \
      curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 segweb \
 && useradd --system --uid 10001 --gid segweb --home-dir /data --shell /usr/sbin/nologin segweb \
 && mkdir -p /data /files && chown segweb:segweb /data
COPY --from=build /src/build/server/segweb /usr/local/bin/segweb
USER segweb
WORKDIR /data
VOLUME ["/data"]
# Configuration by environment (flags still win): the health check reads the same port.
ENV SEGWEB_LISTEN=0.0.0.0:8080 SEGWEB_STORE=/data
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/bin/sh", "-c", "curl -fsS \"http://127.0.0.1:${SEGWEB_LISTEN##*:}/healthz\" || exit 1"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["segweb"]
CMD ["serve"]
