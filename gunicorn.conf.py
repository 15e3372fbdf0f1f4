"""Production gunicorn settings; each can be overridden by the environment."""

import multiprocessing
import os

from gunicorn.glogging import Logger

from app.logs import MaskPersonal

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "sync" if threads == 1 else "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
# The app logs every request as JSON itself; gunicorn's own access log would duplicate it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


class MaskingLogger(Logger):
    """gunicorn's error and access logs, with email addresses and mobile numbers masked as
    the app's own logs are: at DEBUG gunicorn logs every request's path, and an access log
    switched on (--access-logfile) would log its query string too."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, MaskPersonal) for f in log.filters):
                log.addFilter(MaskPersonal())


logger_class = MaskingLogger
# No preload: each worker opens its own database pool after the fork.
preload_app = False


def post_worker_init(worker):
    """Freeze what the app built at start-up (mappers, schemas, routes) out of the garbage
    collector's reach: they live as long as the worker, and every full collection would
    rescan them. A partner batch creates enough objects to trigger several per request;
    frozen, one costs a fifth less CPU (bench/ingest_bench.py)."""
    import gc

    gc.collect()
    gc.freeze()
