<?php
// Timers, priorities and the loop's exits on the pecl libevent API. Prints what happens,
// in order; the test compares it with what the extension documents.
$base = event_base_new();
var_dump(event_base_priority_init($base, 2));

function timer($base, $usec, $callback, $arg)
{
    $t = event_timer_new();
    event_timer_set($t, $callback, $arg);
    event_base_set($t, $base);
    event_timer_add($t, $usec);
    return $t;
}

function fired($fd, $events, $arg)
{
    echo "fired $arg fd=", var_export($fd, true), " events=$events\n";
}

// Three timers fire in the order of their timeouts, not of their adding.
$t30 = timer($base, 30000, 'fired', 'thirty');
$t10 = timer($base, 10000, 'fired', 'ten');
$t20 = timer($base, 20000, 'fired', 'twenty');
// A deleted timer never fires.
$gone = timer($base, 15000, 'fired', 'deleted');
event_timer_del($gone);
// event_timer_pending says what the extension said: false while pending.
echo 'pending (added): ', var_export(event_timer_pending($t10), true), "\n";
echo 'pending (deleted): ', var_export(event_timer_pending($gone), true), "\n";

// A timer that adds itself again from its own callback, three times.
$count = 0;
$again = event_timer_new();
event_timer_set($again, function ($fd, $events, $arg) use (&$count, &$again) {
    $count++;
    echo "again $count\n";
    if ($count < 3) {
        event_timer_add($again, 1000);
    }
}, null);
event_base_set($again, $base);
event_timer_add($again, 40000);

// A timer freed inside its own callback.
$self = event_timer_new();
event_timer_set($self, function ($fd, $events, $arg) use (&$self) {
    event_free($self);
    echo 'freed itself, is_resource inside: ', var_export(is_resource($self), true), "\n";
}, null);
event_base_set($self, $base);
event_timer_add($self, 50000);

echo 'loop: ', event_base_loop($base), "\n";
echo 'after: is_resource=', var_export(is_resource($self), true), ' type=', get_resource_type($self), "\n";

// Priorities: two timers due at once run by priority, not by adding order.
$low = timer($base, 0, 'fired', 'priority-1');
event_priority_set($low, 1);
$high = timer($base, 0, 'fired', 'priority-0');
event_priority_set($high, 0);
event_base_loop($base, EVLOOP_ONCE);

// event_base_loopexit ends a loop that would run on: a timer every 5 ms.
$ticks = 0;
$tick = event_new();
event_set($tick, 0, EV_TIMEOUT | EV_PERSIST, function () use (&$ticks) {
    $ticks++;
}, null);
event_base_set($tick, $base);
event_add($tick, 5000);
event_base_loopexit($base, 60000);
event_base_loop($base);
echo 'loopexit after ticks: ', ($ticks >= 3 && $ticks <= 13) ? 'some' : $ticks, "\n";

// event_base_loopbreak from a callback ends the loop at once.
$breaks = timer($base, 1000, function ($fd, $events, $base) {
    echo "breaking\n";
    event_base_loopbreak($base);
}, $base);
event_base_loop($base);
event_del($tick);
echo 'nonblock: ', event_base_loop($base, EVLOOP_NONBLOCK), "\n";
echo "done\n";
