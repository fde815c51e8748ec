# segweb: DICOM Segmentations over HTTP.
#   docker build -t segweb .
#   docker run --rm -p 8080:8080 -v segweb-data:/data segweb
# The build stage runs the same scripts CI runs (scripts/install-deps.sh, scripts/build.sh).

FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build && scripts/build.sh && test -x build/server/segweb

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
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["segweb"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--store", "/data"]
