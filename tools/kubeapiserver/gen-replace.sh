#!/usr/bin/env bash
# Prints the replace block that go.mod needs: k8s.io/kubernetes requires each of its staging
# modules at v0.0.0 (its own go.mod points them at ./staging), so a module that imports it has
# to name the published copy of each, v0.MINOR.PATCH for Kubernetes v1.MINOR.PATCH.
# Usage: ./gen-replace.sh v1.36.3 > /tmp/replace.txt, then paste it into go.mod.
set -euo pipefail
k8s=${1:?Kubernetes version, e.g. v1.36.3}
staging=v0.${k8s#v1.}
mod=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
echo "replace ("
awk -v v="$staging" '
	/^require \(/ { in_req = 1; next }
	in_req && /^\)/ { in_req = 0; next }
	in_req && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { printf "\t%s => %s %s\n", $1, $1, v }
' "$mod" | sort
echo ")"
