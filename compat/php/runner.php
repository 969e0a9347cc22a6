<?php
/*
 * Runs a program written for the pecl `libevent` extension, unmodified, on PHP 8:
 *     php runner.php [--listen HOST:PORT] FILE [ARGS...]
 * (run-pecl is the command to use; it finds PHP and sets the ini options.)
 *
 * The extension's functions are defined globally by pecl-libevent.php. What PHP 8 has
 * built in cannot be redefined, so the program's own calls of the few built-ins that
 * must know the extension's resources (is_resource, get_resource_type, get_resource_id,
 * gettype, extension_loaded, dl) and of the ones --listen changes (stream_socket_server,
 * socket_bind) are pointed at PeclLibevent's versions, and its `exit`/`die` at one that
 * can leave libevent's loop. That rewriting is done on the program's tokens; its lines
 * keep their numbers, and __FILE__/__DIR__ name the program's file. The rewritten
 * source is compiled from memory (a stream wrapper): nothing is written to disk.
 */

namespace PeclLibevent;

const SHADOWED = [
    'is_resource', 'get_resource_type', 'get_resource_id', 'gettype',
    'extension_loaded', 'dl', 'stream_socket_server', 'socket_bind',
];

/** The program's source with the calls above redirected. */
function rewrite(string $code, string $file): string
{
    $tokens = \PhpToken::tokenize($code);
    $significant = static fn (\PhpToken $t) => !$t->isIgnorable();
    $out = '';
    $count = count($tokens);
    $prev = null;
    for ($i = 0; $i < $count; $i++) {
        $t = $tokens[$i];
        $next = null;
        for ($j = $i + 1; $j < $count; $j++) {
            if ($significant($tokens[$j])) {
                $next = $tokens[$j];
                break;
            }
        }
        $text = $t->text;
        $afterMember = $prev !== null && $prev->is([T_OBJECT_OPERATOR, T_NULLSAFE_OBJECT_OPERATOR, T_DOUBLE_COLON, T_FUNCTION, T_NEW, T_CONST]);
        if ($t->is([T_STRING, T_NAME_FULLY_QUALIFIED]) && !$afterMember && $next?->text === '(') {
            $name = strtolower(ltrim($t->text, '\\'));
            if (in_array($name, SHADOWED, true)) {
                $text = '\\PeclLibevent\\' . $name;
            }
        } elseif ($t->is(T_EXIT)) {
            $text = '\\PeclLibevent\\Lib::exit' . ($next?->text === '(' ? '' : '()');
        } elseif ($t->is(T_FILE)) {
            $text = var_export($file, true);
        } elseif ($t->is(T_DIR)) {
            $text = var_export(dirname($file), true);
        }
        $out .= $text;
        if ($significant($t)) {
            $prev = $t;
        }
    }
    return $out;
}

/** Serves the rewritten program to `require` (include needs only these). */
final class SourceStream
{
    public static array $sources = [];
    public $context;
    private string $data = '';
    private int $at = 0;

    public function stream_open(string $path, string $mode, int $options, ?string &$opened): bool
    {
        if (!isset(self::$sources[$path])) {
            return false;
        }
        $this->data = self::$sources[$path];
        return true;
    }

    public function stream_read(int $count): string
    {
        $chunk = substr($this->data, $this->at, $count);
        $this->at += strlen($chunk);
        return $chunk;
    }

    public function stream_eof(): bool
    {
        return $this->at >= strlen($this->data);
    }

    public function stream_stat(): array
    {
        return ['size' => strlen($this->data)];
    }

    public function url_stat(string $path, int $flags): array|false
    {
        return isset(self::$sources[$path]) ? ['size' => strlen(self::$sources[$path])] : false;
    }

    public function stream_set_option(int $option, int $arg1, ?int $arg2): bool
    {
        return false;
    }

    public function stream_close(): void
    {
    }
}

function usage(string $msg): never
{
    fwrite(STDERR, "run-pecl: $msg\nusage: run-pecl [--listen HOST:PORT] FILE [ARGS...]\n");
    exit(64);
}

$args = array_slice($_SERVER['argv'], 1);
$listen = null;
while ($args !== [] && str_starts_with($args[0], '--')) {
    $flag = array_shift($args);
    if ($flag === '--') {
        break;
    }
    if ($flag === '--listen') {
        $listen = array_shift($args) ?? usage('--listen needs HOST:PORT');
    } elseif (str_starts_with($flag, '--listen=')) {
        $listen = substr($flag, strlen('--listen='));
    } else {
        usage("unknown option $flag");
    }
}
if ($listen !== null && !preg_match('/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):[0-9]{1,5}$/', $listen)) {
    usage("--listen $listen: not HOST:PORT");
}
$file = array_shift($args) ?? usage('no FILE given');
$path = realpath($file);
if ($path === false || !is_file($path)) {
    usage("$file: no such file");
}
$code = file_get_contents($path);
if ($code === false) {
    usage("$file: cannot be read");
}

require __DIR__ . '/pecl-libevent.php';
Lib::$listen = $listen;

stream_wrapper_register('pecl-libevent', SourceStream::class);
$url = 'pecl-libevent://' . $path;
SourceStream::$sources[$url] = rewrite($code, $path);

$_SERVER['argv'] = $GLOBALS['argv'] = array_merge([$file], $args);
$_SERVER['argc'] = $GLOBALS['argc'] = count($_SERVER['argv']);
$_SERVER['SCRIPT_FILENAME'] = $_SERVER['SCRIPT_NAME'] = $_SERVER['PHP_SELF'] = $file;
set_include_path(dirname($path) . PATH_SEPARATOR . get_include_path());
unset($args, $flag, $listen, $file, $code);

// The program runs at top level, as it would have: its variables are globals.
unset($path);
require $url;
