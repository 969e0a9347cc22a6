<?php
/*
 * The pecl `libevent` extension's functions and constants for PHP 8, over the real
 * libevent 2.1 through PHP's FFI.
 *
 * Written by this project from the extension's documentation (php.net's "libevent"
 * book): each function calls the same libevent function the extension called
 * (`event_set`, `event_base_set`, `bufferevent_new`, `bufferevent_base_set`...), so that
 * callbacks run when and in the order libevent runs them. What the extension added
 * itself is reproduced: the arguments each callback gets, the warnings and return values,
 * resources that stay valid until a callback that uses them has returned, a base that
 * cannot be freed while events are attached to it. How it works and where it differs:
 * compat/php/README.md.
 *
 * Which libevent: LIBEVENT_PHP_LIB (the path of any libevent 2.1 shared library), else
 * the newest one this project's build has linked (libevent-2.1.so under target/).
 */

namespace PeclLibevent {

use FFI;

/** The C declarations the layer uses: libevent's 1.4-style API, as the extension did. */
const CDEF = <<<'C'
typedef int evutil_socket_t;
struct event_base;
struct event;
struct bufferevent;
struct timeval { long tv_sec; long tv_usec; };
typedef void (*event_callback_fn)(evutil_socket_t, short, void *);
typedef void (*bufferevent_data_cb)(struct bufferevent *, void *);
typedef void (*bufferevent_event_cb)(struct bufferevent *, short, void *);
struct pecl_callbacks {
    event_callback_fn event;
    bufferevent_data_cb read;
    bufferevent_data_cb write;
    bufferevent_event_cb error;
};
const char *event_get_version(void);
struct event_base *event_init(void);
struct event_base *event_base_new(void);
void event_base_free(struct event_base *);
int event_reinit(struct event_base *);
int event_base_loop(struct event_base *, int);
int event_base_loopexit(struct event_base *, const struct timeval *);
int event_base_loopbreak(struct event_base *);
int event_base_priority_init(struct event_base *, int);
int event_base_set(struct event_base *, struct event *);
size_t event_get_struct_event_size(void);
void event_set(struct event *, evutil_socket_t, short, event_callback_fn, void *);
int event_add(struct event *, const struct timeval *);
int event_del(struct event *);
int event_pending(const struct event *, short, struct timeval *);
int event_priority_set(struct event *, int);
struct bufferevent *bufferevent_new(evutil_socket_t, bufferevent_data_cb, bufferevent_data_cb, bufferevent_event_cb, void *);
int bufferevent_base_set(struct event_base *, struct bufferevent *);
int bufferevent_priority_set(struct bufferevent *, int);
void bufferevent_free(struct bufferevent *);
void bufferevent_setcb(struct bufferevent *, bufferevent_data_cb, bufferevent_data_cb, bufferevent_event_cb, void *);
int bufferevent_setfd(struct bufferevent *, evutil_socket_t);
int bufferevent_write(struct bufferevent *, const void *, size_t);
size_t bufferevent_read(struct bufferevent *, void *, size_t);
int bufferevent_enable(struct bufferevent *, short);
int bufferevent_disable(struct bufferevent *, short);
void bufferevent_settimeout(struct bufferevent *, int, int);
void bufferevent_setwatermark(struct bufferevent *, short, size_t, size_t);
C;

/** A program's `exit` inside a callback, carried out of libevent's loop (see Lib::exit). */
final class ExitSignal extends \Exception
{
    public function __construct(public readonly int|string $status)
    {
        parent::__construct('exit');
    }
}

/**
 * What the extension's resources were: `event base`, `event` and `buffer event`. A freed
 * one is "Unknown", as a destroyed resource was; functions given it warn and return false.
 */
abstract class Resource
{
    private static int $nextId = 1;
    public readonly int $id;
    /** Callbacks of this object now running: a free inside one waits for them to return. */
    public int $busy = 0;
    public bool $freeRequested = false;
    public bool $freed = false;

    public function __construct(public readonly string $type)
    {
        $this->id = self::$nextId++;
    }

    public function __toString(): string
    {
        return "Resource id #{$this->id}";
    }

    /** Frees now, or after the callbacks running on this object have returned. */
    final public function free(): void
    {
        if ($this->freed) {
            return;
        }
        if ($this->busy > 0) {
            $this->freeRequested = true;
            return;
        }
        $this->freed = true;
        $this->release();
    }

    final public function __destruct()
    {
        // A resource nothing refers to any more was destroyed by PHP 5, as here.
        $this->busy = 0;
        $this->free();
    }

    abstract protected function release(): void;
}

final class Base extends Resource
{
    /** Events and buffer events set on this base (the extension's `base->events`). */
    public int $attached = 0;
    private bool $releaseWhenDetached = false;

    public function __construct(public FFI\CData $ptr)
    {
        parent::__construct('event base');
    }

    /** One event or buffer event less on this base; the last one lets a freed base go. */
    public function detach(): void
    {
        $this->attached--;
        if ($this->attached === 0 && $this->releaseWhenDetached) {
            $this->releaseWhenDetached = false;
            Lib::$ffi->event_base_free($this->ptr);
        }
    }

    protected function release(): void
    {
        // In PHP 5 the events kept their base alive. Here PHP's shutdown may destroy the
        // base first: the C base then waits for the last of them.
        if ($this->attached > 0) {
            $this->releaseWhenDetached = true;
            return;
        }
        Lib::$ffi->event_base_free($this->ptr);
    }
}

/** An event or a buffer event: set on at most one base, which counts it. */
abstract class OnBase extends Resource
{
    public ?Base $base = null;

    public function setBase(?Base $base): void
    {
        if ($base !== $this->base) {
            if ($base !== null) {
                $base->attached++;
            }
            $this->base?->detach();
        }
        $this->base = $base;
    }
}

final class Event extends OnBase
{
    /** The stream (or socket) given to event_set, kept open while the event has it. */
    public mixed $stream = null;
    public mixed $callback = null;
    public mixed $arg = null;
    public bool $signal = false;
    public int $key;

    public function __construct(public FFI\CData $memory, public FFI\CData $ptr)
    {
        parent::__construct('event');
        $this->key = Lib::address($ptr);
    }

    protected function release(): void
    {
        // Only an event with a base can be pending (event_add refuses the others), and
        // libevent 2.1 warns on event_del without one.
        if ($this->base !== null) {
            Lib::$ffi->event_del($this->ptr);
        }
        unset(Lib::$events[$this->key]);
        FFI::free($this->memory);
        $this->setBase(null);
        $this->stream = $this->callback = $this->arg = null;
    }
}

final class BufferEvent extends OnBase
{
    public mixed $stream;
    public mixed $readcb = null;
    public mixed $writecb = null;
    public mixed $errorcb = null;
    public mixed $arg = null;
    public int $key;

    public function __construct(public FFI\CData $ptr, mixed $stream)
    {
        parent::__construct('buffer event');
        $this->stream = $stream;
        $this->key = Lib::address($ptr);
    }

    protected function release(): void
    {
        unset(Lib::$bufferEvents[$this->key]);
        Lib::$ffi->bufferevent_free($this->ptr);
        $this->setBase(null);
        $this->stream = $this->readcb = $this->writecb = $this->errorcb = $this->arg = null;
    }
}

final class Lib
{
    public static ?FFI $ffi = null;
    /** The four C callbacks, made once; `arg` and the bufferevent tell them apart. */
    public static ?FFI\CData $callbacks = null;
    /** @var array<int, \WeakReference<Event>> by the address of the C event */
    public static array $events = [];
    /** @var array<int, \WeakReference<BufferEvent>> by the address of the C bufferevent */
    public static array $bufferEvents = [];
    /** How many callbacks are running (an `exit` inside one is carried out of the loop). */
    public static int $depth = 0;
    /** What a callback threw or `exit`ed with, rethrown when event_base_loop returns. */
    public static ?\Throwable $pending = null;
    public static bool $currentBase = false;
    public static string $library = '';
    /** `--listen HOST:PORT` of run-pecl: replaces the address of the first server socket. */
    public static ?string $listen = null;
    private static ?FFI\CData $tv = null;

    public static function load(): void
    {
        if (self::$ffi !== null) {
            return;
        }
        if (!extension_loaded('ffi')) {
            self::fatal('PHP has no FFI extension (Debian: php8.2-cli has it; ffi.enable must not be 0)');
        }
        $lib = self::findLibrary();
        try {
            self::$ffi = FFI::cdef(CDEF, $lib);
        } catch (\Throwable $e) {
            self::fatal("cannot load $lib: " . $e->getMessage());
        }
        $version = (string) self::$ffi->event_get_version();
        if (!str_starts_with($version, '2.1.')) {
            self::fatal("$lib is libevent $version; the layer needs libevent 2.1");
        }
        self::$library = $lib;
        $cbs = self::$ffi->new('struct pecl_callbacks', false);
        $cbs->event = static fn ($fd, $what, $arg) => self::onEvent($fd, $what, $arg);
        $cbs->read = static fn ($bev, $arg) => self::onBufferEvent($bev, 'readcb', null);
        $cbs->write = static fn ($bev, $arg) => self::onBufferEvent($bev, 'writecb', null);
        $cbs->error = static fn ($bev, $what, $arg) => self::onBufferEvent($bev, 'errorcb', $what);
        self::$callbacks = $cbs;
    }

    private static function findLibrary(): string
    {
        $env = getenv('LIBEVENT_PHP_LIB');
        if ($env !== false && $env !== '') {
            if (!is_file($env)) {
                self::fatal("LIBEVENT_PHP_LIB=$env: no such file");
            }
            return $env;
        }
        $targets = [];
        $cargoTarget = getenv('CARGO_TARGET_DIR');
        if ($cargoTarget !== false && $cargoTarget !== '') {
            $targets[] = $cargoTarget;
        }
        $targets[] = dirname(__DIR__, 2) . '/target';
        $found = [];
        foreach ($targets as $t) {
            foreach (glob("$t/*/build/libevent-sys-*/out/shared/libevent-2.1.so") ?: [] as $f) {
                $found[$f] = filemtime($f);
            }
        }
        if ($found === []) {
            self::fatal('no libevent shared library: build this project\'s '
                . '(cargo build --release -p libevent-sys links target/release/build/libevent-sys-*/out/shared/libevent-2.1.so) '
                . 'or set LIBEVENT_PHP_LIB to a libevent 2.1 shared library '
                . '(Debian\'s libevent-2.1-7: /usr/lib/x86_64-linux-gnu/libevent-2.1.so.7)');
        }
        arsort($found);
        return array_key_first($found);
    }

    public static function fatal(string $msg): never
    {
        fwrite(STDERR, "pecl-libevent: $msg\n");
        exit(70);
    }

    /** A pointer's value (FFI::cast reads 0 from the pointers a callback is given). */
    public static function address(FFI\CData $ptr): int
    {
        $value = FFI::new('uintptr_t');
        FFI::memcpy(FFI::addr($value), FFI::addr($ptr), FFI::sizeof($value));
        return $value->cdata;
    }

    /** bufferevent_new needs a current base in libevent 2.x: made once, as by event_init(). */
    public static function ensureCurrentBase(): void
    {
        if (!self::$currentBase) {
            self::$ffi->event_init();
            self::$currentBase = true;
        }
    }

    /**
     * A warning worded as the extension's were, at the program's line that called the
     * function: to the program's error handler if it set one, else as PHP prints its
     * own (display_errors), unless silenced (`@`, error_reporting).
     */
    public static function warn(string $fn, string $msg): void
    {
        $message = "$fn(): $msg";
        [$file, $line] = self::caller();
        $handler = set_error_handler(static fn () => false);
        restore_error_handler();
        if ($handler !== null) {
            if ($handler(E_WARNING, $message, $file, $line) !== false) {
                return;
            }
        }
        if (!(error_reporting() & E_WARNING)) {
            return;
        }
        $display = strtolower((string) ini_get('display_errors'));
        if ($display === '' || $display === '0' || $display === 'off') {
            return;
        }
        $out = $display === 'stderr' ? STDERR : STDOUT;
        fwrite($out, "PHP Warning:  $message in $file on line $line\n");
    }

    /** The program's file and line that called into this layer. */
    private static function caller(): array
    {
        foreach (debug_backtrace(DEBUG_BACKTRACE_IGNORE_ARGS) as $frame) {
            if (isset($frame['file']) && $frame['file'] !== __FILE__) {
                return [preg_replace('~^pecl-libevent://~', '', $frame['file']), $frame['line'] ?? 0];
            }
        }
        return ['(unknown)', 0];
    }

    /** The object behind a resource argument, or null after a warning (as zpp did). */
    public static function fetch(string $fn, mixed $value, string $class, string $type, int $n = 1): ?Resource
    {
        if (!$value instanceof $class) {
            $given = $value instanceof Resource ? 'resource' : get_debug_type($value);
            if (!$value instanceof Resource) {
                self::warn($fn, "expects parameter $n to be resource, $given given");
                return null;
            }
            self::warn($fn, "supplied resource is not a valid $type resource");
            return null;
        }
        if ($value->freed) {
            self::warn($fn, "supplied resource is not a valid $type resource");
            return null;
        }
        return $value;
    }

    /**
     * The descriptor of what the extension accepted as a descriptor: a stream resource, a
     * socket (ext/sockets), or an integer. PHP 8 has no function that tells a stream's
     * descriptor, so it is found in /proc/self/fd by the inode fstat() reports (Linux).
     */
    public static function descriptor(string $fn, mixed $fd): ?int
    {
        if (is_int($fd)) {
            if ($fd < 0) {
                self::warn($fn, 'invalid file descriptor passed');
                return null;
            }
            return $fd;
        }
        if ($fd instanceof \Socket) {
            $fd = socket_export_stream($fd);
        }
        if (!\is_resource($fd) || \get_resource_type($fd) !== 'stream') {
            self::warn($fn, 'fd argument must be either valid PHP stream or valid PHP socket resource');
            return null;
        }
        $st = @fstat($fd);
        if ($st === false) {
            self::warn($fn, 'the stream has no descriptor');
            return null;
        }
        $socket = "socket:[{$st['ino']}]";
        $match = null;
        foreach (scandir('/proc/self/fd') ?: [] as $n) {
            if (!ctype_digit($n)) {
                continue;
            }
            $link = @readlink("/proc/self/fd/$n");
            if ($link === $socket) {
                return (int) $n;
            }
            if ($match === null && $link !== false && !str_starts_with($link, 'socket:')) {
                $other = @stat("/proc/self/fd/$n");
                if ($other !== false && $other['ino'] === $st['ino'] && $other['dev'] === $st['dev']) {
                    $match = (int) $n;
                }
            }
        }
        if ($match === null) {
            self::warn($fn, 'cannot find the descriptor of the stream (this layer reads /proc/self/fd)');
        }
        return $match;
    }

    public static function timeval(int $usec): ?FFI\CData
    {
        if ($usec < 0) {
            return null;
        }
        // One struct for every call: libevent copies what it is given.
        self::$tv ??= self::$ffi->new('struct timeval', false);
        self::$tv->tv_sec = intdiv($usec, 1000000);
        self::$tv->tv_usec = $usec % 1000000;
        return FFI::addr(self::$tv);
    }

    public static function callable(string $fn, mixed $cb, string $what): bool
    {
        if (!is_callable($cb)) {
            $name = is_string($cb) ? $cb : get_debug_type($cb);
            self::warn($fn, "'$name' is not a valid $what");
            return false;
        }
        return true;
    }

    private static function onEvent($fd, $what, $arg): void
    {
        $event = (self::$events[self::address($arg)] ?? null)?->get();
        if ($event === null || $event->freed || $event->callback === null || $event->base === null) {
            return;
        }
        if ($event->stream !== null) {
            $first = $event->stream;
        } elseif ($what & EV_SIGNAL) {
            $first = $fd;
        } else {
            $first = null;
        }
        self::call($event, $event->callback, [$first, $what, $event->arg]);
    }

    private static function onBufferEvent($bev, string $which, ?int $what): void
    {
        $b = (self::$bufferEvents[self::address($bev)] ?? null)?->get();
        if ($b === null || $b->freed || $b->base === null || $b->$which === null) {
            return;
        }
        $args = $what === null ? [$b, $b->arg] : [$b, $what, $b->arg];
        self::call($b, $b->$which, $args);
    }

    /**
     * Runs a program's callback from libevent's: nothing may unwind through C, so what
     * it throws (or its `exit`) stops the loop and comes out of event_base_loop.
     */
    private static function call(Resource $owner, callable $cb, array $args): void
    {
        $owner->busy++;
        self::$depth++;
        try {
            if (self::$pending === null) {
                $cb(...$args);
            }
        } catch (\Throwable $e) {
            self::$pending ??= $e;
            if ($owner instanceof Event || $owner instanceof BufferEvent) {
                if ($owner->base !== null) {
                    self::$ffi->event_base_loopbreak($owner->base->ptr);
                }
            }
        } finally {
            self::$depth--;
            $owner->busy--;
            if ($owner->busy === 0 && $owner->freeRequested) {
                $owner->free();
            }
        }
    }

    /** What the program's `exit`/`die` became (runner.php rewrites them to call this). */
    public static function exit(int|string $status = 0): void
    {
        if (self::$depth > 0) {
            throw new ExitSignal($status);
        }
        exit($status);
    }

    /** After event_base_loop returns: what a callback threw is thrown, an exit exits. */
    public static function afterLoop(): void
    {
        $e = self::$pending;
        if ($e === null) {
            return;
        }
        self::$pending = null;
        if ($e instanceof ExitSignal) {
            exit($e->status);
        }
        throw $e;
    }
}

/** Replaces the HOST:PORT of `tcp://HOST:PORT` (or `HOST:PORT`) once, for --listen. */
function listen_address(string $address): string
{
    if (Lib::$listen === null) {
        return $address;
    }
    $scheme = '';
    if (preg_match('~^([a-z0-9+.-]+://)~i', $address, $m)) {
        $scheme = $m[1];
    }
    if ($scheme !== '' && !in_array(strtolower($scheme), ['tcp://', 'tls://', 'ssl://'], true)) {
        return $address;
    }
    $new = $scheme . Lib::$listen;
    Lib::$listen = null;
    return $new;
}

/*
 * The built-ins a program calls on the extension's resources. runner.php makes the
 * program's own calls to these names call these instead.
 */

function is_resource(mixed $v): bool
{
    return $v instanceof Resource ? !$v->freed : \is_resource($v);
}

function get_resource_type(mixed $v): string
{
    if ($v instanceof Resource) {
        return $v->freed ? 'Unknown' : $v->type;
    }
    return \get_resource_type($v);
}

function get_resource_id(mixed $v): int
{
    return $v instanceof Resource ? $v->id : \get_resource_id($v);
}

function gettype(mixed $v): string
{
    if ($v instanceof Resource) {
        return $v->freed ? 'resource (closed)' : 'resource';
    }
    return \gettype($v);
}

function extension_loaded(string $name): bool
{
    return strtolower($name) === 'libevent' || \extension_loaded($name);
}

function dl(string $name): bool
{
    return str_contains(strtolower($name), 'libevent') ? true : \dl($name);
}

function stream_socket_server(string $address, &$error_code = null, &$error_message = null, int $flags = STREAM_SERVER_BIND | STREAM_SERVER_LISTEN, $context = null)
{
    $address = listen_address($address);
    return $context === null
        ? \stream_socket_server($address, $error_code, $error_message, $flags)
        : \stream_socket_server($address, $error_code, $error_message, $flags, $context);
}

function socket_bind(\Socket $socket, string $address, int $port = 0): bool
{
    if (Lib::$listen !== null) {
        $new = listen_address("$address:$port");
        $at = strrpos($new, ':');
        $address = trim(substr($new, 0, $at), '[]');
        $port = (int) substr($new, $at + 1);
    }
    return \socket_bind($socket, $address, $port);
}

}

namespace {

use PeclLibevent\Base;
use PeclLibevent\BufferEvent;
use PeclLibevent\Event;
use PeclLibevent\Lib;

foreach ([
    'EV_TIMEOUT' => 1, 'EV_READ' => 2, 'EV_WRITE' => 4, 'EV_SIGNAL' => 8, 'EV_PERSIST' => 16,
    'EVLOOP_ONCE' => 1, 'EVLOOP_NONBLOCK' => 2,
    'EVBUFFER_READ' => 1, 'EVBUFFER_WRITE' => 2, 'EVBUFFER_EOF' => 16,
    'EVBUFFER_ERROR' => 32, 'EVBUFFER_TIMEOUT' => 64,
] as $name => $value) {
    if (!defined($name)) {
        define($name, $value);
    }
}

Lib::load();

function event_base_new()
{
    $ptr = Lib::$ffi->event_base_new();
    if (FFI::isNull($ptr)) {
        return false;
    }
    return new Base($ptr);
}

function event_base_free($event_base)
{
    $base = Lib::fetch(__FUNCTION__, $event_base, Base::class, 'event base');
    if ($base === null) {
        return false;
    }
    if ($base->attached > 0) {
        Lib::warn(__FUNCTION__, 'base has events attached to it and cannot be freed');
        return false;
    }
    $base->free();
    return null;
}

function event_base_reinit($event_base)
{
    $base = Lib::fetch(__FUNCTION__, $event_base, Base::class, 'event base');
    return $base !== null && Lib::$ffi->event_reinit($base->ptr) === 0;
}

function event_base_loop($event_base, $flags = 0)
{
    $base = Lib::fetch(__FUNCTION__, $event_base, Base::class, 'event base');
    if ($base === null) {
        return null;
    }
    $base->busy++;
    try {
        $ret = Lib::$ffi->event_base_loop($base->ptr, (int) $flags);
    } finally {
        $base->busy--;
    }
    Lib::afterLoop();
    return $ret;
}

function event_base_loopbreak($event_base)
{
    $base = Lib::fetch(__FUNCTION__, $event_base, Base::class, 'event base');
    return $base !== null && Lib::$ffi->event_base_loopbreak($base->ptr) === 0;
}

function event_base_loopexit($event_base, $timeout = -1)
{
    $base = Lib::fetch(__FUNCTION__, $event_base, Base::class, 'event base');
    return $base !== null
        && Lib::$ffi->event_base_loopexit($base->ptr, Lib::timeval((int) $timeout)) === 0;
}

function event_base_priority_init($event_base, $npriorities)
{
    $base = Lib::fetch(__FUNCTION__, $event_base, Base::class, 'event base');
    if ($base === null) {
        return false;
    }
    if ($npriorities < 0) {
        Lib::warn(__FUNCTION__, 'npriorities cannot be less than zero');
        return false;
    }
    return Lib::$ffi->event_base_priority_init($base->ptr, (int) $npriorities) === 0;
}

function event_base_set($event, $event_base)
{
    $ev = Lib::fetch(__FUNCTION__, $event, Event::class, 'event');
    $base = Lib::fetch(__FUNCTION__, $event_base, Base::class, 'event base', 2);
    if ($ev === null || $base === null) {
        return false;
    }
    if (Lib::$ffi->event_base_set($base->ptr, $ev->ptr) !== 0) {
        return false;
    }
    $ev->setBase($base);
    return true;
}

function event_new()
{
    $size = Lib::$ffi->event_get_struct_event_size();
    $memory = Lib::$ffi->new("char[$size]", false);
    FFI::memset($memory, 0, $size);
    $ptr = Lib::$ffi->cast('struct event *', FFI::addr($memory));
    $ev = new Event($memory, $ptr);
    Lib::$events[$ev->key] = WeakReference::create($ev);
    return $ev;
}

function event_free($event)
{
    $ev = Lib::fetch(__FUNCTION__, $event, Event::class, 'event');
    $ev?->free();
}

/** event_set's and event_timer_set's shared part: libevent's event_set, then the base again. */
function pecl_libevent_set(Event $ev, int $fd, int $events, $callback, $arg): void
{
    if ($ev->base !== null) {
        // libevent would corrupt its lists re-initialising a pending event.
        Lib::$ffi->event_del($ev->ptr);
    }
    $ev->callback = $callback;
    $ev->arg = $arg;
    Lib::$ffi->event_set($ev->ptr, $fd, $events, Lib::$callbacks->event, $ev->ptr);
    if ($ev->base !== null) {
        Lib::$ffi->event_base_set($ev->base->ptr, $ev->ptr);
    }
}

function event_set($event, $fd, $events, $callback, $arg = null)
{
    $ev = Lib::fetch(__FUNCTION__, $event, Event::class, 'event');
    if ($ev === null) {
        return false;
    }
    $events = (int) $events;
    if ($events & EV_SIGNAL) {
        $n = (int) $fd;
        if ($n < 0 || $n >= 65) {
            Lib::warn(__FUNCTION__, 'invalid signal passed');
            return false;
        }
        $stream = null;
    } else {
        $n = Lib::descriptor(__FUNCTION__, $fd);
        if ($n === null) {
            return false;
        }
        $stream = is_int($fd) ? null : $fd;
    }
    if (!Lib::callable(__FUNCTION__, $callback, 'callback')) {
        return false;
    }
    $ev->stream = $stream;
    pecl_libevent_set($ev, $n, $events, $callback, $arg);
    return true;
}

function event_add($event, $timeout = -1)
{
    $ev = Lib::fetch(__FUNCTION__, $event, Event::class, 'event');
    if ($ev === null) {
        return false;
    }
    if ($ev->base === null) {
        Lib::warn(__FUNCTION__, 'Unable to add event without an event base');
        return false;
    }
    return Lib::$ffi->event_add($ev->ptr, Lib::timeval((int) $timeout)) === 0;
}

function event_del($event)
{
    $ev = Lib::fetch(__FUNCTION__, $event, Event::class, 'event');
    return $ev !== null && Lib::$ffi->event_del($ev->ptr) === 0;
}

function event_priority_set($event, $priority)
{
    $ev = Lib::fetch(__FUNCTION__, $event, Event::class, 'event');
    return $ev !== null && Lib::$ffi->event_priority_set($ev->ptr, (int) $priority) === 0;
}

function event_timer_new()
{
    return event_new();
}

function event_timer_set($event, $callback, $arg = null)
{
    $ev = Lib::fetch(__FUNCTION__, $event, Event::class, 'event');
    if ($ev === null || !Lib::callable(__FUNCTION__, $callback, 'callback')) {
        return false;
    }
    $ev->stream = null;
    pecl_libevent_set($ev, -1, 0, $callback, $arg);
    return true;
}

function event_timer_add($event, $timeout = -1)
{
    return event_add($event, $timeout);
}

function event_timer_del($event)
{
    return event_del($event);
}

/** As the extension's: true when the timer is NOT pending (it tested event_pending() != 0). */
function event_timer_pending($event, $timeout = -1)
{
    $ev = Lib::fetch(__FUNCTION__, $event, Event::class, 'event');
    if ($ev === null) {
        return false;
    }
    return Lib::$ffi->event_pending($ev->ptr, EV_TIMEOUT, Lib::timeval((int) $timeout)) === 0;
}

function event_buffer_new($stream, $readcb, $writecb, $errorcb, $arg = null)
{
    $fd = Lib::descriptor(__FUNCTION__, $stream);
    if ($fd === null) {
        return false;
    }
    if ($readcb !== null && !Lib::callable(__FUNCTION__, $readcb, 'read callback')) {
        return false;
    }
    if ($writecb !== null && !Lib::callable(__FUNCTION__, $writecb, 'write callback')) {
        return false;
    }
    if (!Lib::callable(__FUNCTION__, $errorcb, 'error callback')) {
        return false;
    }
    Lib::ensureCurrentBase();
    $cbs = Lib::$callbacks;
    $ptr = Lib::$ffi->bufferevent_new($fd, $cbs->read, $cbs->write, $cbs->error, null);
    if (FFI::isNull($ptr)) {
        return false;
    }
    $b = new BufferEvent($ptr, is_int($stream) ? null : $stream);
    $b->readcb = $readcb;
    $b->writecb = $writecb;
    $b->errorcb = $errorcb;
    $b->arg = $arg;
    Lib::$bufferEvents[$b->key] = WeakReference::create($b);
    return $b;
}

function event_buffer_free($bevent)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    $b?->free();
}

function event_buffer_base_set($bevent, $event_base)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    $base = Lib::fetch(__FUNCTION__, $event_base, Base::class, 'event base', 2);
    if ($b === null || $base === null) {
        return false;
    }
    if (Lib::$ffi->bufferevent_base_set($base->ptr, $b->ptr) !== 0) {
        return false;
    }
    $b->setBase($base);
    return true;
}

function event_buffer_priority_set($bevent, $priority)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    return $b !== null && Lib::$ffi->bufferevent_priority_set($b->ptr, (int) $priority) === 0;
}

function event_buffer_write($bevent, $data, $data_size = -1)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    if ($b === null) {
        return false;
    }
    $data = (string) $data;
    if (func_num_args() < 3) {
        $data_size = strlen($data);
    } elseif ($data_size < 0) {
        Lib::warn(__FUNCTION__, 'data_size cannot be less than zero');
        return false;
    }
    // The extension wrote data_size bytes even past the string's end; here at most the string.
    $n = min((int) $data_size, strlen($data));
    return Lib::$ffi->bufferevent_write($b->ptr, $data, $n) === 0;
}

function event_buffer_read($bevent, $data_size)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    if ($b === null) {
        return false;
    }
    $data_size = (int) $data_size;
    if ($data_size === 0) {
        return '';
    }
    if ($data_size < 0) {
        Lib::warn(__FUNCTION__, 'data_size cannot be less than zero');
        return false;
    }
    $buf = Lib::$ffi->new("char[$data_size]");
    $n = Lib::$ffi->bufferevent_read($b->ptr, $buf, $data_size);
    return $n > 0 ? FFI::string($buf, min($n, $data_size)) : '';
}

function event_buffer_enable($bevent, $events)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    return $b !== null && Lib::$ffi->bufferevent_enable($b->ptr, (int) $events) === 0;
}

function event_buffer_disable($bevent, $events)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    return $b !== null && Lib::$ffi->bufferevent_disable($b->ptr, (int) $events) === 0;
}

function event_buffer_timeout_set($bevent, $read_timeout, $write_timeout)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    $b === null || Lib::$ffi->bufferevent_settimeout($b->ptr, (int) $read_timeout, (int) $write_timeout);
}

function event_buffer_watermark_set($bevent, $events, $lowmark, $highmark)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    $b === null || Lib::$ffi->bufferevent_setwatermark($b->ptr, (int) $events, (int) $lowmark, (int) $highmark);
}

function event_buffer_fd_set($bevent, $fd)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    if ($b === null) {
        return false;
    }
    $n = Lib::descriptor(__FUNCTION__, $fd);
    if ($n === null) {
        return false;
    }
    $b->stream = is_int($fd) ? null : $fd;
    Lib::$ffi->bufferevent_setfd($b->ptr, $n);
    return null;
}

function event_buffer_set_callback($bevent, $readcb, $writecb, $errorcb, $arg = null)
{
    $b = Lib::fetch(__FUNCTION__, $bevent, BufferEvent::class, 'buffer event');
    if ($b === null) {
        return false;
    }
    foreach ([[$readcb, 'read callback'], [$writecb, 'write callback'], [$errorcb, 'error callback']] as [$cb, $what]) {
        if ($cb !== null && !Lib::callable(__FUNCTION__, $cb, $what)) {
            return false;
        }
    }
    $b->readcb = $readcb;
    $b->writecb = $writecb;
    $b->errorcb = $errorcb;
    if (func_num_args() >= 5) {
        $b->arg = $arg;
    }
    return true;
}

}
