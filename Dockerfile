# Dockerfile — the neonblue command on Debian 12, for docker-compose.yml.
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      gcc make pkg-config libncurses-dev libcurl4-openssl-dev librdkafka-dev \
      libpq-dev libcjson-dev libgsl-dev libssl-dev libmicrohttpd-dev libpcre2-dev ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" all

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libncursesw6 libcurl4 librdkafka1 libpq5 libcjson1 libgsl27 libssl3 libmicrohttpd12 libpcre2-8-0 ca-certificates \
      && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/neonblue /usr/local/bin/neonblue
COPY --from=build /src/themes /usr/local/share/neonblue/themes
USER nobody
ENTRYPOINT ["neonblue"]
