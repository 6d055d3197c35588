//! The flag tables of `caravan alloc …`: each parses its command line and prints its help
//! (through its row in [`super::table::COMMANDS`]).

use super::Usage;
use super::flags::{Flag, Kind};

/// `caravan alloc logs`: usage, help and flags.
pub const LOGS: Usage = Usage {
    usage: "caravan alloc logs [options] <allocation> [<task>]",
    about: "Print a task's stdout (or stderr) from the start, its end, or as it is written.\n\
            The task may be left out when the allocation has only one.",
    flags: &[
        Flag {
            name: "f",
            kind: Kind::Bool,
            help: "Follow: print new output as it is written, until Ctrl-C (exit 0);\nalone (no -stdout/-stderr/-tail/-n/-c) it follows stdout and\nstderr, from the start of the newest log file, as Nomad does",
        },
        Flag {
            name: "stdout",
            kind: Kind::Bool,
            help: "Print stdout (the default)",
        },
        Flag {
            name: "stderr",
            kind: Kind::Bool,
            help: "Print stderr (to stderr when both are followed)",
        },
        Flag {
            name: "tail",
            kind: Kind::Bool,
            help: "Print the end of the log: the last -n lines (default 10), or -c bytes",
        },
        Flag {
            name: "n",
            kind: Kind::Value("lines"),
            help: "Lines to print from the end (implies -tail; counted by the agent)",
        },
        Flag {
            name: "c",
            kind: Kind::Value("bytes"),
            help: "Bytes to print from the end (implies -tail)",
        },
        Flag {
            name: "task",
            kind: Kind::Value("name"),
            help: "The task, instead of the <task> argument",
        },
        Flag {
            name: "since",
            kind: Kind::Value("time"),
            help: "Only lines written since this RFC 3339 time or duration ago (10m):\npassed through as since=; the agent decides (its error is printed)",
        },
        Flag {
            name: "timestamps",
            kind: Kind::Bool,
            help: "Prefix each line with when it was written (passed as timestamps=true)",
        },
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print the agent's frames, one JSON object a line (Data in base64)",
        },
    ],
};

/// `caravan alloc fs`: usage, help and flags.
pub const FS: Usage = Usage {
    usage: "caravan alloc fs [options] <allocation> [<path>]",
    about: "List a directory of an allocation, print a file, or stat either.\n\
            The path is relative to the allocation directory (default /).",
    flags: &[
        Flag {
            name: "stat",
            kind: Kind::Bool,
            help: "Show the file's or directory's details instead of its contents",
        },
        Flag {
            name: "f",
            kind: Kind::Bool,
            help: "Follow a file: print what is appended, until Ctrl-C (exit 0)",
        },
        Flag {
            name: "H",
            kind: Kind::Bool,
            help: "Machine-friendly sizes (bytes)",
        },
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print the listing or stat as JSON",
        },
    ],
};

/// `caravan alloc status`: usage, help and flags.
pub const STATUS: Usage = Usage {
    usage: "caravan alloc status [options] <allocation>",
    about: "Show an allocation's status and its tasks' states.",
    flags: &[
        Flag {
            name: "stats",
            kind: Kind::Bool,
            help: "Also show each task's resource usage (CPU, memory)",
        },
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print the allocation as JSON ({\"Allocation\",\"Stats\"} with -stats)",
        },
        Flag {
            name: "verbose",
            kind: Kind::Bool,
            help: "Show full ids",
        },
    ],
};

/// `caravan alloc gc`: usage, help and flags.
pub const GC: Usage = Usage {
    usage: "caravan alloc gc <allocation>",
    about: "Garbage-collect a finished allocation on its client: its directory is removed.\n\
            A running allocation is refused by the agent (exit 1).",
    flags: &[],
};

/// `caravan alloc restart`: usage, help and flags.
pub const RESTART: Usage = Usage {
    usage: "caravan alloc restart [options] <allocation> [<task>]",
    about: "Restart a task of a running allocation in place (stopped as a stop does, then\n\
            started again, its log continuing in the next file), or every running task when\n\
            none is named.",
    flags: &[
        Flag {
            name: "task",
            kind: Kind::Value("task-name"),
            help: "The task to restart (as the <task> argument)",
        },
        Flag {
            name: "all-tasks",
            kind: Kind::Bool,
            help: "Restart every task; a task may not be named then",
        },
    ],
};

/// `caravan alloc signal`: usage, help and flags.
pub const SIGNAL: Usage = Usage {
    usage: "caravan alloc signal [options] <allocation> [<task>]",
    about: "Send a signal to a task of a running allocation, or to every task when none is\n\
            named.",
    flags: &[
        Flag {
            name: "s",
            kind: Kind::Value("signal"),
            help: "The signal to send (default SIGKILL, as Nomad's)",
        },
        Flag {
            name: "task",
            kind: Kind::Value("task-name"),
            help: "The task to signal (as the <task> argument)",
        },
    ],
};
