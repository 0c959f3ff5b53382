#!/bin/sh
# Mints the registry's credentials for one deployment into DIR, each file readable by its owner
# only (the directory 0700, the files 0600). Nothing here is ever committed: every run of the
# recipe mints its own (deploy/run-local.sh per run, the Compose init step once per volume).
#
#   deploy/mint-registry-credentials.sh DIR REGISTRY_URL
#   deploy/mint-registry-credentials.sh /run/rss-credentials http://registry:8761/eureka/v2/
#
# Writes, as shell files to source (`. DIR/edge.env`) before starting each service:
#   registry.env     RSS_AUTH__SERVICES (middletier, edge), RSS_AUTH__OPERATORS (ops),
#                    RSS_AUTH__PEERS (peer): the principals the registry accepts;
#   middletier.env   RSS_REGISTRY__URL with the middle tier's credentials as user info;
#   edge.env         RSS_REGISTRY__URL with the edge's credentials;
#   operator.env     RSS_REGISTRY__URL with the operator's, for curl and tools
#                    (`. DIR/operator.env; curl "${RSS_REGISTRY__URL}apps"`).
# A file already in DIR is kept, so restarting a deployment keeps its credentials; delete DIR
# (or the Compose volume) to mint new ones. How to rotate without downtime: docs/security.md.
# POSIX sh and coreutils only, so the slim runtime image can run it.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 DIR REGISTRY_URL (e.g. http://registry:8761/eureka/v2/)" >&2
  exit 2
fi
dir=$1 url=$2
case $url in
  http://*|https://*) ;;
  *) echo "error: REGISTRY_URL must be an http(s) URL, got $url" >&2; exit 2 ;;
esac
case $url in */) ;; *) url="$url/" ;; esac
scheme=${url%%://*} rest=${url#*://}

umask 077
mkdir -p "$dir"
chmod 700 "$dir"
if [ -f "$dir/registry.env" ]; then
  echo "registry credentials already in $dir; keeping them"
  exit 0
fi

# 32 random bytes as hex: safe in a URL's user info and in a comma-separated list unescaped.
secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
middletier=$(secret) edge=$(secret) ops=$(secret) peer=$(secret)

# Written aside, then renamed, so a half-written set is never read.
write() { # file content
  printf '%s\n' "$2" >"$dir/.$1.new"
  mv "$dir/.$1.new" "$dir/$1"
}
write middletier.env "export RSS_REGISTRY__URL='$scheme://middletier:$middletier@$rest'"
write edge.env "export RSS_REGISTRY__URL='$scheme://edge:$edge@$rest'"
write operator.env "export RSS_REGISTRY__URL='$scheme://ops:$ops@$rest'"
# Last: its presence says the set is complete.
write registry.env "export RSS_AUTH__SERVICES='middletier:$middletier,edge:$edge'
export RSS_AUTH__OPERATORS='ops:$ops'
export RSS_AUTH__PEERS='peer:$peer'"
echo "registry credentials minted in $dir"
