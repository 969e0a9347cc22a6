<?php
// Buffer events: watermarks, the write callback, timeouts, error callbacks, and a
// buffer event freed inside its own callback. One connection at a time; what the
// client should say comes first on each line the server prints ("mode ...").
$socket = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
stream_set_blocking($socket, 0);
echo 'listening ', stream_socket_get_name($socket, false), "\n";
$base = event_base_new();
$accept = event_new();
$conns = array();
$modes = array('lowmark', 'highmark', 'drain', 'timeout', 'free');
$n = 0;

function say($s)
{
    echo $s, "\n";
}

function on_accept($listener, $events, $base)
{
    global $conns, $modes, $n;
    $c = stream_socket_accept($listener);
    stream_set_blocking($c, 0);
    $mode = $modes[$n++ % count($modes)];
    $b = event_buffer_new($c, 'on_read', 'on_write', 'on_error', $mode);
    event_buffer_base_set($b, $base);
    if ($mode === 'lowmark') {
        // The read callback waits for 5 bytes.
        event_buffer_watermark_set($b, EV_READ, 5, 0);
    } elseif ($mode === 'highmark') {
        // libevent reads no more than 4 bytes past what is buffered.
        event_buffer_watermark_set($b, EV_READ, 0, 4);
    } elseif ($mode === 'timeout') {
        event_buffer_timeout_set($b, 1, 1);
    }
    event_buffer_enable($b, EV_READ);
    $conns[$mode] = array($c, $b);
    say("mode $mode");
}

function on_read($b, $mode)
{
    global $conns;
    if ($mode === 'free') {
        event_buffer_free($b);
        say('freed in its read callback; usable until it returns: '
            . var_export(event_buffer_write($b, "lost\r\n"), true));
        return;
    }
    $data = event_buffer_read($b, 100);
    say("read $mode " . $data);
    if ($mode === 'drain') {
        event_buffer_write($b, strtoupper($data));
    }
}

function on_write($b, $mode)
{
    say("written $mode");
}

function on_error($b, $what, $mode)
{
    global $conns;
    say(sprintf('error %s 0x%02x', $mode, $what));
    event_buffer_free($b);
    fclose($conns[$mode][0]);
}

event_set($accept, $socket, EV_READ | EV_PERSIST, 'on_accept', $base);
event_base_set($accept, $base);
event_add($accept);

// After the free: the resource is gone, as a destroyed one was.
$check = event_new();
event_set($check, 0, EV_TIMEOUT | EV_PERSIST, function () use (&$conns, &$check) {
    if (!isset($conns['free']) || isset($conns['free'][2])) {
        return;
    }
    $b = $conns['free'][1];
    if (is_resource($b)) {
        return;
    }
    $conns['free'][2] = true;
    say('after the callback: is_resource ' . var_export(is_resource($b), true)
        . ', type ' . get_resource_type($b)
        . ', write ' . var_export(@event_buffer_write($b, 'x'), true));
    fclose($conns['free'][0]);
}, null);
event_base_set($check, $base);
event_add($check, 10000);
event_base_loop($base);
