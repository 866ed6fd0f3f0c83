#!/usr/bin/env bash
# The tools that render and validate infra/k8s offline, cached across clones in
# ${VPP_STACK__CACHE_DIR:-~/.cache/vpp}: kustomize and kubeconform (built by `go install`
# from the Go module proxy) and Kubernetes' JSON schemas, taken from the
# kubernetes-validate wheel on PyPI (it ships them for each Kubernetes minor version).
# Idempotent: what is cached is not fetched again. Prints the cache folder.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.1
KUBECONFORM_VERSION=v0.7.0
SCHEMA_WHEEL=kubernetes-validate==1.37.0
K8S_VERSION=1.34.0   # the schemas kubeconform validates against (-kubernetes-version)

cache="${VPP_STACK__CACHE_DIR:-$HOME/.cache/vpp}"
cache="${cache/#\~/$HOME}"
bin="$cache/bin"
schemas="$cache/kubernetes-json-schema"
mkdir -p "$bin"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
fi
need_go() { command -v go >/dev/null 2>&1 || { echo "error: go is needed to build $1 (install Go 1.22 or newer)" >&2; exit 1; }; }
if [ ! -x "$bin/kustomize" ]; then
  need_go kustomize
  GOBIN="$bin" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
fi
if [ ! -x "$bin/kubeconform" ]; then
  need_go kubeconform
  GOBIN="$bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2
fi

target="$schemas/v$K8S_VERSION-standalone-strict"
if [ ! -f "$target/deployment-apps-v1.json" ]; then
  python="${PYTHON:-python3}"
  [ -x .venv/bin/python ] && python=.venv/bin/python
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$python" -m pip download --quiet --no-deps -d "$tmp" "$SCHEMA_WHEEL" >&2
  "$python" - "$tmp"/*.whl "$K8S_VERSION" "$target" <<'PY'
import pathlib, sys, zipfile
wheel, version, target = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
target.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and name.endswith(".json"):
            text = z.read(name).decode()
            # The wheel's schemas refer to "/api/_definitions.json" (its own server's
            # path); kubeconform resolves a reference by absolute URL, so point it at
            # the file beside them.
            definitions = (target / "_definitions.json").resolve().as_uri()
            text = text.replace('"/api/_definitions.json#', f'"{definitions}#')
            (target / name[len(prefix):]).write_text(text)
PY
fi
echo "$cache"
