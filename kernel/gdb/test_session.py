# test_session.py: the GDB test. Checks what continuations.py prints in a
# kernel stopped three continuations deep.
#
# `./qemu-run.sh test gdb` (and the full `./qemu-run.sh test`) starts GDB in
# batch mode with the gdb-target kernel's symbols, QEMU on the other end of
# a pipe, and this script. The script sources the extension, stops at
# `gdb_target::innermost` (tests/gdb_target.rs draws the scene), runs its
# commands and prints one line per check, in the format of the in-kernel
# suites, then the count:
#
#   test gdb::info_continuations_lists_the_states_of_both_stores ... ok
#   ...
#   10 passed, 0 failed
#
# Expected values come from the scene's structure (which continuation is
# where in the chain) and from the kernel's own records (the stack slots
# the guests wrote to GDB_TARGET_SLOTS), never from a previous run.

import os
import re

import gdb

HERE = os.path.dirname(os.path.abspath(__file__))
gdb.execute("source %s" % os.path.join(HERE, "continuations.py"))

import __main__ as ext  # noqa: E402  (continuations.py defines its functions there)

RESULTS = []


def check(name, fn):
    try:
        problem = fn()
    except Exception as e:  # a GDB error is a failed check, not a crash
        problem = "%s: %s" % (type(e).__name__, e)
    if problem:
        gdb.write("test gdb::%s ... FAILED: %s\n" % (name, problem))
    else:
        gdb.write("test gdb::%s ... ok\n" % name)
    RESULTS.append(not problem)


def run(command):
    return gdb.execute(command, to_string=True)


def expect_eq(what, got, expected):
    if got != expected:
        return "%s: got %r, expected %r" % (what, got, expected)
    return None


# ------------------------------------------------------------ the stop ---

STOPPED = {}


def stop_in_innermost():
    gdb.execute("hbreak gdb_target::innermost", to_string=True)
    gdb.execute("continue", to_string=True)
    frame = gdb.newest_frame()
    STOPPED["function"] = frame.function().print_name if frame.function() else None
    return expect_eq("function at the stop", STOPPED["function"], "gdb_target::innermost")


def kernel_slots():
    """GDB_TARGET_SLOTS: the slots outer, middle and inner ran on."""
    addr = int(gdb.parse_and_eval("&GDB_TARGET_SLOTS").cast(gdb.lookup_type("u64")))
    return [ext.read_u64(addr + 8 * i) for i in range(3)]


# `info continuations` rows: "  #3   Running   slot 4    TOS 0x...  parent #2 ..."
ROW = re.compile(
    r"^  (#\d+)\s+(\w+)\s+slot (\d+)\s+TOS (0x[0-9a-f]+)\s+parent (\S+)\s+rev (\S+)\s+(.*)$"
)
STORE = re.compile(r"^store (\d+) at 0x[0-9a-f]+: (\d+) live continuations?, running: (\S+)$")


def listing():
    """{store id: (header match, [row matches])} from `info continuations`."""
    stores, current = {}, None
    for line in run("info continuations").splitlines():
        m = STORE.match(line)
        if m:
            current = int(m.group(1))
            stores[current] = (m, [])
            continue
        m = ROW.match(line)
        if m and current is not None:
            stores[current][1].append(m)
    return stores


def info_continuations_lists_the_states_of_both_stores():
    stores = listing()
    got = {
        sid: [(r.group(1), r.group(2)) for r in rows] for sid, (_, rows) in stores.items()
    }
    return expect_eq(
        "stores and states",
        got,
        {
            1: [("#0", "Suspended"), ("#1", "Parent"), ("#2", "Parent"), ("#3", "Running")],
            2: [("#0", "Fresh"), ("#1", "Suspended")],
        },
    )


def info_continuations_links_each_level_to_its_parent():
    _, rows = listing()[1]
    got = [(r.group(1), r.group(5)) for r in rows]
    # The ticker's segment was cut off by its suspend: no parent. outer's
    # parent is the kernel's stack; middle's is outer, inner's is middle.
    return expect_eq("parents", got, [("#0", "-"), ("#1", "kernel"), ("#2", "#1"), ("#3", "#2")])


def info_continuations_shows_the_slots_the_kernel_recorded():
    header, rows = listing()[1]
    slots = [int(r.group(3)) for r in rows[1:]]
    problem = expect_eq("slots of outer, middle, inner", slots, kernel_slots())
    if problem:
        return problem
    # TOS is the top of the slot: CONT_STACKS_START + (slot + 1) * slot size.
    size = ext.slot_size()
    tops = [int(r.group(4), 16) for r in rows[1:]]
    expected = [ext.CONT_STACKS_START + (s + 1) * size for s in slots]
    return expect_eq("TOS of outer, middle, inner", tops, expected) or expect_eq(
        "running continuation of store 1", header.group(3), "#3"
    )


def info_continuations_names_handlers_and_the_suspension():
    _, rows = listing()[1]
    # tests/gdb_target.rs makes the tags tick, up, down in this order, the
    # first tags of the boot: ids 0, 1, 2. Each level runs under the handler
    # its parent's resume installed.
    got = [r.group(7) for r in rows[1:]]
    problem = expect_eq(
        "handlers",
        got,
        ["under [suspend tag 0]", "under [suspend tag 1]", "under [suspend tag 2]"],
    )
    if problem:
        return problem
    ticker = rows[0].group(7)
    if not ticker.startswith("suspended in gdb_target::ticker"):
        return "the ticker's row says %r, not where it suspended" % ticker
    return expect_eq("ticker's types", ticker.split("; ")[-1], "sent [I32], expects []")


# chain-backtrace: group headers, then "  #N  0x... in NAME ..." lines.
GROUP = re.compile(r"^(continuation (#\d+) of store (\d+) \((\w+)\).*|kernel stack):$")
FRAME = re.compile(r"^  #\d+\s+0x[0-9a-f]+ in (\S+)")


def chain(command="chain-backtrace"):
    """[(group, [function names])] in the order printed."""
    groups = []
    for line in run(command).splitlines():
        m = GROUP.match(line)
        if m:
            name = "kernel" if m.group(1) == "kernel stack" else "%s/%s" % (m.group(3), m.group(2))
            groups.append((name, []))
            continue
        m = FRAME.match(line)
        if m and groups:
            groups[-1][1].append(m.group(1).rstrip(","))
    return groups


def chain_backtrace_groups_the_stacks_in_chain_order():
    return expect_eq("stacks", [g for g, _ in chain()], ["1/#3", "1/#2", "1/#1", "kernel"])


def chain_backtrace_names_each_level_on_its_own_stack():
    named = [
        (group, f)
        for group, funcs in chain()
        for f in funcs
        if re.fullmatch(r"gdb_target::(innermost|\w+_guest|scene)", f)
    ]
    return expect_eq(
        "guest functions by stack",
        named,
        [
            ("1/#3", "gdb_target::innermost"),
            ("1/#3", "gdb_target::inner_guest"),
            ("1/#2", "gdb_target::middle_guest"),
            ("1/#1", "gdb_target::outer_guest"),
            ("kernel", "gdb_target::scene"),
        ],
    )


def chain_backtrace_of_a_suspended_continuation_starts_where_it_stopped():
    ticker = ext.live_stores()[0].conts[0]
    groups = chain("chain-backtrace *(%#x as *mut kernel::cont::runtime::contref::ContRef)" % ticker.addr)
    names = [f for _, funcs in groups for f in funcs if f.startswith("gdb_target::")]
    return expect_eq("stacks", [g for g, _ in groups], ["1/#0"]) or expect_eq(
        "first guest function", names[:1], ["gdb_target::ticker"]
    )


def saved_rip():
    """The instruction the preempting tick interrupted, as the kernel saved
    it (kernel/src/cont/runtime/preempt.rs, SAVED_FRAME[0]: the scene has
    one preemption)."""
    sym = gdb.lookup_global_symbol("kernel::cont::runtime::preempt::SAVED_FRAME")
    if sym is None:
        sym = gdb.lookup_static_symbol("kernel::cont::runtime::preempt::SAVED_FRAME")
    return ext.read_u64(int(sym.value().address.cast(gdb.lookup_type("u64"))))


def chain_backtrace_of_a_preempted_continuation_reaches_the_interrupted_loop():
    # Store 2's #1 is the spinner, preempted by a tick inside its loop: its
    # frames are preempt_entry's switch, the stub, then the interrupted
    # function and its callers, all on its own stack.
    groups = chain("chain-backtrace $cont(2, 1)")
    names = [f for _, funcs in groups for f in funcs]
    problem = expect_eq("stacks", [g for g, _ in groups], ["2/#1"])
    if problem:
        return problem
    if "cont_preempt_stub" not in names:
        return "no frame of the preemption stub in %r" % names
    after = names[names.index("cont_preempt_stub") + 1 :]
    return expect_eq("the frame above the stub", after[:1], ["gdb_target::spinner"])


def the_interrupted_frame_is_the_instruction_the_tick_saved():
    lines = run("chain-backtrace $cont(2, 1)").splitlines()
    at = next(i for i, l in enumerate(lines) if l.endswith(" in cont_preempt_stub"))
    pc = int(lines[at + 1].split()[1], 16)
    return expect_eq("interrupted pc", "%#x" % pc, "%#x" % saved_rip())


def info_continuations_says_where_a_preempted_continuation_was_interrupted():
    _, rows = listing()[2]
    spinner = rows[1].group(7)
    if not spinner.startswith("preempted in gdb_target::spinner"):
        return "the spinner's row says %r, not where it was preempted" % spinner
    return expect_eq("spinner's types", spinner.split("; ")[-1], "sent [], expects []")


def a_handle_prints_as_its_continuation_or_as_used():
    store = ext.live_stores()[0]
    inner = store.conts[3]
    handle_type = gdb.lookup_type("kernel::cont::runtime::contref::ContObj")

    def handle(revision):
        raw = inner.addr.to_bytes(8, "little") + revision.to_bytes(8, "little")
        return str(gdb.Value(raw, handle_type))

    live = handle(inner.revision)
    used = handle(inner.revision - 1)
    slot = inner.slot()
    return expect_eq(
        "live handle",
        live,
        "handle of continuation #3 of store 1: Running, slot %d, rev 1:1" % slot,
    ) or expect_eq(
        "used handle",
        used,
        "used handle of continuation #3 of store 1 (rev 1:0, record now at 1:1)",
    )


def a_typed_handle_prints_as_its_continuation():
    store = ext.live_stores()[0]
    inner = store.conts[3]
    # A typed handle in memory: the store, the record, the revision.
    handle_type = gdb.lookup_type("kernel::cont::doors::typed::Cont<i32, i32>")
    raw = bytearray(handle_type.sizeof)
    for field, word in [("store", store.addr), ("contref", inner.addr), ("revision", inner.revision)]:
        at = next(f.bitpos // 8 for f in handle_type.fields() if f.name == field)
        raw[at : at + 8] = word.to_bytes(8, "little")
    return expect_eq(
        "typed handle",
        str(gdb.Value(bytes(raw), handle_type)),
        "handle of continuation #3 of store 1: Running, slot %d, rev 1:1" % inner.slot(),
    )


gdb.execute("set pagination off")
gdb.execute("set confirm off")
check("the_breakpoint_stops_in_innermost", stop_in_innermost)
stopped = RESULTS[-1]
for test in [
    info_continuations_lists_the_states_of_both_stores,
    info_continuations_links_each_level_to_its_parent,
    info_continuations_shows_the_slots_the_kernel_recorded,
    info_continuations_names_handlers_and_the_suspension,
    chain_backtrace_groups_the_stacks_in_chain_order,
    chain_backtrace_names_each_level_on_its_own_stack,
    chain_backtrace_of_a_suspended_continuation_starts_where_it_stopped,
    a_handle_prints_as_its_continuation_or_as_used,
    a_typed_handle_prints_as_its_continuation,
    chain_backtrace_of_a_preempted_continuation_reaches_the_interrupted_loop,
    the_interrupted_frame_is_the_instruction_the_tick_saved,
    info_continuations_says_where_a_preempted_continuation_was_interrupted,
]:
    if stopped:
        check(test.__name__, test)
    else:
        check(test.__name__, lambda: "the session did not stop in gdb_target::innermost")
gdb.write("%d passed, %d failed\n" % (RESULTS.count(True), RESULTS.count(False)))
