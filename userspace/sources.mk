# The daemon's sources, for its Makefile and the fuzzers' alike.
DAEMON_SRCS := main.c options.c config.c log.c logfmt.c addr.c acl.c \
	       balance.c worker.c health.c health_talk.c proxy.c proxy_parse.c \
	       sni_parse.c inspect.c resolver.c control.c control_io.c \
	       metrics.c uringstat_rings.c \
	       handover.c handover_parse.c inherit.c \
	       uring_setup.c uring_sq.c engine_uring.c forward_splice.c \
	       forward_buffers.c forward_copy.c engine_epoll.c
