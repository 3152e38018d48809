#!/usr/bin/env bash
# Provisions one VM of vagrant/Vagrantfile: Node.js 20, the system packages netlab drives (the
# same scripts/install-deps.sh that CI uses), Open vSwitch's service with its kernel datapath,
# netlab itself from the synced repository, then this host's share of the lab.
#   vagrant-provision.sh LAB_FILE
set -euo pipefail
lab=${1:?topology file}
export DEBIAN_FRONTEND=noninteractive
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  apt-get update -qq
  apt-get install -y -qq ca-certificates curl gnupg rsync
  # NodeSource's packages: Ubuntu's own nodejs is older than netlab's minimum.
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash -
  apt-get install -y -qq nodejs
fi
bash /netlab/scripts/install-deps.sh
systemctl enable --now openvswitch-switch
# Build in a copy: the synced folder is shared by both VMs and by the host.
rsync -a --delete --exclude node_modules --exclude dist /netlab/ /opt/netlab/
cd /opt/netlab && npm ci --no-audit --no-fund && npm install -g . --no-audit --no-fund
netlab up -f "$lab"
netlab ps -f "$lab"
