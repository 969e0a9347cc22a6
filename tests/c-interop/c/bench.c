/* Plain C callbacks for the overhead benchmark (benches/overhead.rs). */
#include <event2/event.h>

struct bench_counter {
	long count;
	long limit;
	struct event_base *base;
};

void c_bench_count_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_counter *c = arg;
	(void)fd;
	(void)what;
	if (++c->count == c->limit)
		event_base_loopbreak(c->base);
}
