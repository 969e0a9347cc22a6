<?php
// An echo server on the pecl libevent API: each connection's bytes come back as they
// are; "bye" closes it. Written for PHP 5's extension (no PHP 8 syntax).
$socket = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
stream_set_blocking($socket, 0);
$name = stream_socket_get_name($socket, false);
echo "listening $name\n";

$base = event_base_new();
$event = event_new();
$connections = array();
$next = 0;

function on_read($buffer, $id)
{
    global $connections;
    while (($data = event_buffer_read($buffer, 4096)) !== '') {
        if (trim($data) === 'bye') {
            echo "closing $id\n";
            event_buffer_free($buffer);
            fclose($connections[$id][0]);
            unset($connections[$id]);
            return;
        }
        event_buffer_write($buffer, $data);
    }
}

function on_error($buffer, $what, $id)
{
    global $connections;
    printf("error %d 0x%x\n", $id, $what);
    event_buffer_free($buffer);
    fclose($connections[$id][0]);
    unset($connections[$id]);
}

function on_accept($listener, $flags, $base)
{
    global $connections, $next;
    $conn = stream_socket_accept($listener);
    stream_set_blocking($conn, 0);
    $id = ++$next;
    $buffer = event_buffer_new($conn, 'on_read', NULL, 'on_error', $id);
    event_buffer_base_set($buffer, $base);
    event_buffer_enable($buffer, EV_READ | EV_PERSIST);
    $connections[$id] = array($conn, $buffer);
    echo "accepted $id ", get_resource_type($buffer), ' ', is_resource($buffer) ? 'yes' : 'no', "\n";
}

event_set($event, $socket, EV_READ | EV_PERSIST, 'on_accept', $base);
event_base_set($event, $base);
event_add($event);
var_dump(extension_loaded('libevent'));
event_base_loop($base);
