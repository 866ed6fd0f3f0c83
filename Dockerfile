# The platform's own processes (api, worker, ml-worker, ack-relay, ingest, edge-sim, and the
# broker's password file and schedules jobs in docker-compose.yml): one image, the `vpp`
# command as entrypoint.
#
#   docker build -t vpp:dev .
#   docker run --rm vpp:dev --help
#
# Exact versions come from requirements.lock (the same constraints `make install` uses).
# Note: the lock pins PyTorch's default Linux build, which pulls CUDA libraries: the image
# is several GB. It runs on the CPU all the same.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# LightGBM's wheel links against the system's OpenMP runtime, which the slim image lacks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Dependencies first, in their own layer: a change to the code does not reinstall them.
# The package is a stub here; the real one replaces it below without touching its deps.
COPY pyproject.toml requirements.lock README.md ./
RUN mkdir vpp && touch vpp/__init__.py \
    && pip install -c requirements.lock . \
    && pip uninstall -y vpp \
    && rm -rf vpp build vpp.egg-info

COPY vpp ./vpp
RUN pip install --no-deps -c requirements.lock . && rm -rf build

# Run as an unprivileged user, from a home it can write (VPP_STACK__DATA_DIR is relative).
RUN useradd --create-home --uid 10001 vpp
USER vpp
WORKDIR /home/vpp

ENTRYPOINT ["vpp"]
CMD ["--help"]
