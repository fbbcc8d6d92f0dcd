FROM python:3.11-slim
WORKDIR /app
RUN useradd --create-home --uid 10001 reminders
COPY pyproject.toml requirements.lock README.md alembic.ini ./
COPY reminders ./reminders
COPY workers ./workers
RUN pip install --no-cache-dir -c requirements.lock -e '.[ops]' && mkdir -p /app/var && chown reminders /app/var && chmod 700 /app/var
USER reminders
EXPOSE 8000
CMD ["reminders", "api", "--host", "0.0.0.0", "--port", "8000"]
