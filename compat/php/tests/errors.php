<?php
// Misuse and failures, as the extension reported them; then exit from inside a callback.
$base = event_base_new();

// Not a resource, and an event without a base: warnings and false.
var_dump(event_add('nothing'));
$lonely = event_new();
event_timer_set($lonely, function () {}, null);
var_dump(event_add($lonely));
var_dump(event_buffer_read(event_new(), 10));
// A base with an event on it cannot be freed.
$t = event_timer_new();
event_timer_set($t, function () {
    throw new RuntimeException('boom');
}, null);
event_base_set($t, $base);
var_dump(event_base_free($base));
// What a callback throws comes out of event_base_loop.
event_timer_add($t, 1000);
try {
    event_base_loop($base);
    echo "not thrown\n";
} catch (RuntimeException $e) {
    echo 'caught ', $e->getMessage(), "\n";
}
// An invalid callback.
var_dump(event_timer_set($t, 'no_such_function', null));
echo 'extension_loaded: ', var_export(extension_loaded('libevent'), true), "\n";
echo 'gettype: ', gettype($base), ', type: ', get_resource_type($base), "\n";

// A signal event: the callback gets the signal's number.
$sig = event_new();
event_set($sig, SIGUSR1, EV_SIGNAL, function ($fd, $events, $arg) {
    echo "signal fd=$fd events=$events arg=$arg\n";
}, 'usr1');
event_base_set($sig, $base);
event_add($sig);
$kill = event_timer_new();
event_timer_set($kill, function () {
    posix_kill(getmypid(), SIGUSR1);
}, null);
event_base_set($kill, $base);
event_timer_add($kill, 1000);
event_base_loop($base, EVLOOP_ONCE);
event_base_loop($base, EVLOOP_ONCE);

// exit inside a callback ends the program with its status; shutdown functions run.
register_shutdown_function(function () {
    echo "shutdown\n";
});
$bye = event_timer_new();
event_timer_set($bye, function () {
    echo "exiting\n";
    exit(3);
}, null);
event_base_set($bye, $base);
event_timer_add($bye, 1000);
event_base_loop($base);
echo "not reached\n";
