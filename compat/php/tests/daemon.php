<?php
/*
 * The protocol of ../../../../shared/PROTOCOL.md ("PHP Daemon, part III") written by this
 * project for the pecl libevent API, in PHP 5's syntax, the way that article's programs
 * are built: an abstract daemon that owns the loop, a connection, a concrete daemon that
 * answers in upper case. It keeps the original's flaws on purpose (accept spins at the
 * connection limit, end of stream frees the buffer event at once, the 1,024-byte read
 * loop stops at a slice "0"), so that eventd-compare's tests have a PHP reference that
 * behaves like the original without committing the original. It is not the article's
 * code.
 */

abstract class PeclDaemon
{
    protected $host;
    protected $port;
    protected $timeout;
    protected $maxConnections;
    protected $base;
    protected $listener;
    protected $acceptEvent;
    protected $connections = array();
    protected $lastId = 0;

    public function __construct($host = '0.0.0.0', $port = 1234, $timeout = 10, $maxConnections = 100)
    {
        $this->host = $host;
        $this->port = $port;
        $this->timeout = $timeout;
        $this->maxConnections = $maxConnections;
    }

    public function log($message)
    {
        echo '[' . date('Y-m-d H:i:s') . '] ' . $message . "\n";
    }

    public function run()
    {
        $this->listener = stream_socket_server("tcp://{$this->host}:{$this->port}", $errno, $errstr);
        if (!$this->listener) {
            $this->log("Error: $errstr ($errno)");
            exit(1);
        }
        stream_set_blocking($this->listener, 0);
        $this->base = event_base_new();
        $this->acceptEvent = event_new();
        event_set($this->acceptEvent, $this->listener, EV_READ | EV_PERSIST, array($this, 'onAccept'));
        event_base_set($this->acceptEvent, $this->base);
        event_add($this->acceptEvent);
        $this->log("Listening on {$this->host}:{$this->port}...");
        event_base_loop($this->base);
    }

    public function onAccept($listener, $flags)
    {
        if (count($this->connections) >= $this->maxConnections) {
            return;
        }
        $socket = stream_socket_accept($listener);
        if (!$socket) {
            return;
        }
        stream_set_blocking($socket, 0);
        $id = ++$this->lastId;
        $connection = new PeclConnection($this, $id, $socket);
        $buffer = event_buffer_new($socket, array($connection, 'onRead'), null, array($connection, 'onError'));
        event_buffer_base_set($buffer, $this->base);
        event_buffer_timeout_set($buffer, $this->timeout, $this->timeout);
        event_buffer_watermark_set($buffer, EV_READ, 0, 0xffffff);
        event_buffer_enable($buffer, EV_READ | EV_PERSIST);
        $connection->buffer = $buffer;
        $this->connections[$id] = $connection;
        $this->log("New connection (id = $id)...");
    }

    public function close($id)
    {
        $this->log("Closing connection (id = $id)...");
        $connection = $this->connections[$id];
        event_buffer_disable($connection->buffer, EV_READ | EV_WRITE);
        event_buffer_free($connection->buffer);
        fclose($connection->socket);
        unset($this->connections[$id]);
    }

    abstract public function onMessage(PeclConnection $connection, $message);
}

class PeclConnection
{
    const MAX_SIZE = 1000;

    public $daemon;
    public $id;
    public $socket;
    public $buffer;
    public $pending = '';

    public function __construct($daemon, $id, $socket)
    {
        $this->daemon = $daemon;
        $this->id = $id;
        $this->socket = $socket;
    }

    public function onRead($buffer)
    {
        while ($read = event_buffer_read($buffer, 1024)) {
            $this->pending .= $read;
        }
        $n = strlen($this->pending);
        if ($n > self::MAX_SIZE || ($n > 4 && substr($this->pending, -2) === "\r\n")) {
            $message = trim($this->pending);
            $this->pending = '';
            $this->daemon->onMessage($this, $message);
        }
    }

    public function onError($buffer, $what)
    {
        if ($what & EVBUFFER_EOF) {
            $this->daemon->log("Error: EVBUFFER_EOF (id = {$this->id})...");
        } elseif ($what & EVBUFFER_ERROR) {
            $this->daemon->log("Error: EVBUFFER_ERROR (id = {$this->id})...");
        } elseif ($what & EVBUFFER_TIMEOUT) {
            $this->daemon->log("Error: EVBUFFER_TIMEOUT (id = {$this->id})...");
        }
        $this->daemon->close($this->id);
    }

    public function send($data)
    {
        event_buffer_write($this->buffer, $data);
    }
}

class UpperCaseDaemon extends PeclDaemon
{
    public function onMessage(PeclConnection $connection, $message)
    {
        if (!$message) {
            return;
        }
        if (strtoupper($message) === 'QUIT') {
            $this->close($connection->id);
            return;
        }
        $reply = strtoupper($message);
        if (strlen($reply) > 1) {
            $connection->send($reply . "\r\n");
        }
    }
}

// The article's daemon hard-codes its settings; this one takes the timeout and the
// connection limit from its arguments too, for the conformance transcripts (3 s, 3).
$timeout = isset($argv[1]) ? (int) $argv[1] : 10;
$max = isset($argv[2]) ? (int) $argv[2] : 100;
$daemon = new UpperCaseDaemon('0.0.0.0', 1234, $timeout, $max);
$daemon->run();
