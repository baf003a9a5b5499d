# Boundary for a team: `docker build -t boundary .` then see README "Host it for your team".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A user without a login shell or a writable app folder runs the server.
RUN useradd --create-home --shell /usr/sbin/nologin --uid 10001 boundary \
 && mkdir -p /data && chown boundary /data
WORKDIR /app
# Saved workspaces (README "Workspaces"): mount a volume here so they outlive the container; replicas
# share one volume.
ENV BOUNDARY_DATA_DIR=/data
VOLUME /data

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY app.py serve.py ./
COPY .streamlit/config.toml .streamlit/config.toml
COPY lib lib
COPY ui ui
COPY app_pages app_pages
COPY sample_data sample_data

USER boundary
EXPOSE 8501
# Sign-in settings: mount a secrets.toml at /app/.streamlit/secrets.toml (read-only), never bake it in.
# Healthy once every server process is up (serve.py answers it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
# serve.py: one Streamlit process per CPU the container may use (-e BOUNDARY_WORKERS=N to choose) behind
# one sticky front on 8501 — a single process uses about one core for Python (README "Host it for your team").
CMD ["python", "serve.py", "--address=0.0.0.0", "--port=8501", "--server.headless=true", "--server.fileWatcherType=none", "--client.showErrorDetails=none"]
