FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml ./
COPY platform_core ./platform_core
COPY webhooks_platform ./webhooks_platform
COPY endpoints ./endpoints
COPY deliveries ./deliveries
RUN pip install .
COPY . .
RUN SECRET_KEY=build python manage.py collectstatic --noinput --verbosity 0
USER nobody
EXPOSE 8000
