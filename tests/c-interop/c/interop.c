/* The C half of the interop tests: a "C program" that owns a base and runs its loop,
 * and C code that registers events on a base Rust owns. */
#include <event2/event.h>
#include <stdlib.h>

struct event_base *c_program_make_base(void) { return event_base_new(); }

int c_program_run_loop(struct event_base *base) { return event_base_dispatch(base); }

void c_program_free_base(struct event_base *base) { event_base_free(base); }

struct counter {
	struct event *ev;
	int fired;
};

static void c_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct counter *c = arg;
	(void)fd;
	if (what & EV_TIMEOUT)
		c->fired++;
	event_free(c->ev);
	c->ev = NULL;
}

/* C registers a one-shot timer on a base Rust owns. */
struct counter *c_add_timer(struct event_base *base, long usec)
{
	struct counter *c = calloc(1, sizeof(*c));
	struct timeval tv = { 0, usec };
	if (!c)
		return NULL;
	c->ev = evtimer_new(base, c_timer_cb, c);
	if (!c->ev || evtimer_add(c->ev, &tv) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

int c_counter_fired(const struct counter *c) { return c->fired; }

void c_counter_free(struct counter *c)
{
	if (c->ev)
		event_free(c->ev);
	free(c);
}
