# syntax=docker/dockerfile:1
# --- build: compile wheels (mysqlclient needs the client headers) ---------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential default-libmysqlclient-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# The hashed lock file: every wheel built here is the one `make lock` pinned.
COPY requirements.txt .
RUN pip wheel --require-hashes --wheel-dir /wheels -r requirements.txt

# --- front-end packages: npm ci from the lock file (only the files collectstatic needs
# reach the image: flowmatik/static_npm.py names them) ----------------------------------
FROM node:20-slim AS npm
WORKDIR /npm
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# --- runtime: slim image, client libraries only, non-root user --------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=flowmatik.settings.production PORT=8000 \
    FLOWMATIK_VAR_DIR=/app/var
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 ca-certificates curl mariadb-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system flowmatik && useradd --system --gid flowmatik --home /app flowmatik
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels /wheels/* && rm -rf /wheels
COPY --chown=flowmatik:flowmatik . .
COPY --from=npm /npm/node_modules /app/node_modules
# collectstatic (hashed, compressed files servestatic serves) and compilemessages
# (locale/*.po -> .mo; gettext only for this step) need settings but no real
# secrets or services; node_modules is not needed once collected.
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && SECRET_KEY=build-only JWT_SECRET=build-only ALLOWED_HOSTS=localhost \
       python manage.py compilemessages --ignore node_modules \
    && SECRET_KEY=build-only JWT_SECRET=build-only ALLOWED_HOSTS=localhost \
       python manage.py collectstatic --noinput \
    && apt-get purge -y --auto-remove gettext && rm -rf /var/lib/apt/lists/* /app/node_modules \
    && mkdir -p /app/var/media && chown -R flowmatik:flowmatik /app/var /app/staticfiles
USER flowmatik
EXPOSE 8000
# Loopback is always an allowed host in production settings, so this passes whatever
# ALLOWED_HOSTS says (and /health is exempt from the HTTPS redirect).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
# Behind a proxy, set FORWARDED_ALLOW_IPS to its address so X-Forwarded-For is trusted.
CMD ["sh", "-c", "exec uvicorn flowmatik.asgi:application --host 0.0.0.0 --port ${PORT} --workers ${WEB_CONCURRENCY:-$(nproc)} --loop uvloop --http httptools --lifespan on --proxy-headers --forwarded-allow-ips ${FORWARDED_ALLOW_IPS:-127.0.0.1} --ws-per-message-deflate false --no-access-log"]
