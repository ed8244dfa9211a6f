# Debian's nginx for the load-balancer test (tests/server_ops/test_nginx.py): the test starts
# its own nginx with a temporary configuration on 127.0.0.1 ports, so nothing is started here.
ci_apt nginx
VANI_NGINX=$(command -v nginx || echo /usr/sbin/nginx)
export VANI_NGINX
