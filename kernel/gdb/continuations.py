# continuations.py: a GDB extension that knows the kernel's continuations.
#
# GDB on its own sees one stack at a time: `bt` inside a guest stops at the
# start trampoline, and nothing lists what is suspended. This file teaches
# it the runtime's data structures (kernel/src/cont/) so that a student can
# ask, at any breakpoint:
#
#   info continuations   (alias: conts)  every live continuation of every
#                        store: state, stack slot and TOS, parent, revision,
#                        and what it runs under (the handlers of the resume
#                        that is its parent) or where it is suspended
#                        (or was preempted by the timer);
#   chain-backtrace      (alias: cbt)    the frames from the current one
#                        across every continuation stack into the parents,
#                        grouped by the stack they run on, in chain order;
#                        `cbt EXPR` walks a suspended continuation instead
#                        (EXPR: a handle, a typed handle, or a ContRef);
#   print HANDLE         handles (ContObj, typed Cont and Suspension),
#                        ContRefs and stores print as one readable line;
#   $cont(N), $cont(S,N) the ContRef of continuation #N of store 1 (or S),
#                        for `print` and `cbt`.
#
# Where it starts: `kernel::cont::runtime::registry::LIVE_STORES`, the list of live
# stores (kernel/src/cont/runtime/registry.rs). Each store lists its ContRefs in
# `all`; a ContRef's `stack.top` is its TOS, and the layout below TOS is
# docs/spec.md section 1 (kernel/src/cont/machine/stack.rs): the control context at
# TOS-0x18 (RSP, RBP, RIP). While a continuation is active its start
# trampoline keeps RBP at TOS-0x10, so that frame record's [RBP] and
# [RBP+8] are its parent's RBP and RIP: a frame-pointer walk goes from a
# continuation's frames straight into its parent's. That is all
# `chain-backtrace` does, naming the stack of each frame as it goes.
#
# Loaded by `./qemu-run.sh gdb` (and the GDB test, kernel/gdb/test_session.py)
# with `source`; it reads symbols only once they are asked for, so it can be
# loaded before the kernel's symbol file.

import os

import gdb
import gdb.printing

# Rust `const`s are not in the debug information, so these three are
# written out here; kernel/tests/doc_figures/ checks them against the
# kernel's, and the GDB test the slots computed from the first.
# The continuation-stack region (kernel/src/memory_map.rs).
CONT_STACKS_START = 0xFFFFD00000000000
# Where the control context starts below TOS (kernel/src/cont/machine/stack.rs).
CONTROL_CONTEXT_OFFSET = 0x18
# Where the store id starts in a revision (kernel/src/cont/runtime/contref.rs).
REVISION_STORE_SHIFT = 40
# The most frames a walk follows: far more than any chain in the kernel.
MAX_FRAMES = 256
# States of a continuation that is alive (contref.rs, State).
LIVE_STATES = ("Fresh", "Running", "Parent", "Suspended")


# ----------------------------------------------------------- raw memory ---


def read_u64(addr):
    data = gdb.selected_inferior().read_memory(addr, 8)
    return int.from_bytes(bytes(data), "little")


def lookup_static(name):
    """The value of the static `name` (a full Rust path)."""
    sym = gdb.lookup_static_symbol(name) or gdb.lookup_global_symbol(name)
    if sym is None:
        sym = gdb.lookup_symbol(name)[0]
    if sym is None:
        raise gdb.GdbError(
            "no symbol %s: load the kernel's symbols first (./qemu-run.sh gdb does)" % name
        )
    return sym.value()


def unwrap(value):
    """Looks through Cell, UnsafeCell, OneCpu and other one-field wrappers."""
    while value.type.strip_typedefs().code == gdb.TYPE_CODE_STRUCT:
        fields = value.type.strip_typedefs().fields()
        if len(fields) != 1 or fields[0].name not in ("value", "__0", "v"):
            break
        value = value[fields[0].name]
    return value


def find_field(value, name):
    """The first field called `name` at any depth below `value`."""
    for f in value.type.strip_typedefs().fields():
        if f.name == name:
            return value[f]
        if f.type.strip_typedefs().code == gdb.TYPE_CODE_STRUCT:
            found = find_field(value[f], name)
            if found is not None:
                return found
    return None


def vec_words(vec):
    """The elements of a `Vec` of pointers, as integers."""
    vec = unwrap(vec)
    length = int(vec["len"])
    ptr = int(find_field(vec["buf"], "pointer"))
    return [read_u64(ptr + 8 * i) for i in range(length)]


def enum_name(value):
    """`Running` for `kernel::cont::runtime::contref::State::Running`."""
    return str(value).split("::")[-1]


def slice_items(value):
    """The elements of a Rust slice reference (a fat pointer)."""
    ptr, length = value["data_ptr"], int(value["length"])
    return [(ptr + i).dereference() for i in range(length)]


def types_text(value):
    return "[" + ", ".join(enum_name(v) for v in slice_items(value)) + "]"


def revision_text(revision):
    """`1:3`: the store id, then the uses of the record (contref.rs)."""
    return "%d:%d" % (revision >> REVISION_STORE_SHIFT, revision & ((1 << REVISION_STORE_SHIFT) - 1))


# ------------------------------------------------------ the data model ---


def contref_type():
    return gdb.lookup_type("kernel::cont::runtime::contref::ContRef")


def store_type():
    return gdb.lookup_type("kernel::cont::runtime::store::Store")


def slot_size():
    return int(unwrap(lookup_static("kernel::stacks::SLOT_SIZE")))


def slot_of(addr):
    """The slot of the continuation-stack region holding `addr`, or None
    (the arithmetic of kernel::stacks::slot_of)."""
    size = slot_size()
    if size == 0 or addr < CONT_STACKS_START:
        return None
    slot = (addr - CONT_STACKS_START) // size
    count = int(unwrap(lookup_static("kernel::stacks::SLOT_COUNT")))
    return slot if slot < count else None


class Cont:
    """One ContRef of one store, with what the listing shows of it."""

    def __init__(self, store, index, addr):
        self.store = store
        self.index = index
        self.addr = addr
        self.value = gdb.Value(addr).cast(contref_type().pointer()).dereference()
        self.state = enum_name(self.value["state"])
        # A record says `Running` from the resume that ran it until it
        # suspends, parent or not (`Parent` is never written): the
        # running chain is the walk from the store's `current` through
        # `parent` (`store.active`), and a record marked Running off that
        # chain is an inner member of a suspended segment, a parent (as
        # `Store::state` says).
        if addr == store.current:
            self.state = "Running"
        elif addr in store.active or self.state == "Running":
            self.state = "Parent"
        self.revision = int(self.value["revision"])
        self.top = int(self.value["stack"]["top"])
        self.len = int(self.value["stack"]["len"])
        self.parent = int(self.value["parent"])
        self.last_ancestor = int(self.value["last_ancestor"])

    @property
    def name(self):
        return "#%d" % self.index

    @property
    def live(self):
        return self.state in LIVE_STATES and self.top != 0

    def holds(self, addr):
        return self.top - self.len <= addr < self.top

    def slot(self):
        return slot_of(self.top - 1) if self.top else None

    def handlers(self):
        """The handler list of the resume that is this one's parent."""
        base, count = int(self.value["handlers"]), int(self.value["handlers_len"])
        out = []
        for i in range(count):
            key = read_u64(base + 8 * i)
            kind = "switch" if key & 0xFF == 1 else "suspend"
            out.append("%s tag %d" % (kind, key >> 32))
        return out

    def suspension_point(self):
        """(RIP, RBP) where this suspended segment stopped: the control
        context of its outermost ContRef (contref.rs, last_ancestor)."""
        outer = gdb.Value(self.last_ancestor).cast(contref_type().pointer()).dereference()
        ctx = int(outer["stack"]["top"]) - CONTROL_CONTEXT_OFFSET
        return read_u64(ctx + 16), read_u64(ctx + 8)


class StoreView:
    """One live store and its ContRefs."""

    def __init__(self, addr):
        self.addr = addr
        self.value = gdb.Value(addr).cast(store_type().pointer()).dereference()
        self.id = int(self.value["id"])
        self.current = int(unwrap(self.value["current"]))
        self.active = set()
        c = self.current
        while c != 0 and c not in self.active:
            self.active.add(c)
            c = int(gdb.Value(c).cast(contref_type().pointer()).dereference()["parent"])
        self.conts = [Cont(self, i, a) for i, a in enumerate(vec_words(self.value["all"]))]

    def live(self):
        return [c for c in self.conts if c.live]

    def by_addr(self, addr):
        for c in self.conts:
            if c.addr == addr:
                return c
        return None


def live_stores():
    """Every live store, oldest first (the registry lists newest first)."""
    out = []
    at = int(unwrap(lookup_static("kernel::cont::runtime::registry::LIVE_STORES")))
    while at != 0 and len(out) < 4096:
        store = StoreView(at)
        out.append(store)
        at = int(unwrap(store.value["live"]["next_live"]))
    out.reverse()
    return out


def find_cont(addr, stores=None):
    for store in stores if stores is not None else live_stores():
        c = store.by_addr(addr)
        if c is not None:
            return c
    return None


# ------------------------------------------------------------- symbols ---


def functions_at(pc):
    """The functions at `pc`, innermost (inlined) first, each with the file
    and line of `pc` in it where known."""
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        block = None
    names = []
    while block is not None:
        if block.function is not None:
            names.append(block.function.print_name)
        block = block.superblock
    if not names:
        sym = gdb.execute("info symbol %#x" % pc, to_string=True).strip()
        if not sym.startswith("No symbol"):
            names.append(sym.split(" in section")[0].split(" + ")[0])
    return names or ["??"]


def line_at(pc):
    sal = gdb.find_pc_line(pc)
    if sal.symtab is None or sal.line == 0:
        return None
    return "%s:%d" % (os.path.normpath(sal.symtab.filename), sal.line)


# The stub a preempting tick enters (kernel/src/cont/runtime/preempt.rs):
# its frame record names the interrupted instruction, not a return address.
PREEMPT_STUB = "cont_preempt_stub"


def is_runtime(name):
    return (
        name.startswith("kernel::cont::")
        or name.startswith("core::")
        or name in ("cont_start_trampoline", PREEMPT_STUB)
    )


# ---------------------------------------------------------------- walk ---


class Frame:
    def __init__(self, pc, fp, sp, caller, gdb_frame=None):
        # `caller`: pc is a return address, so the call is at pc - 1.
        self.pc, self.fp, self.sp, self.caller = pc, fp, sp, caller
        # The innermost GDB frame at this pc, where GDB's own unwinder found
        # this frame (the first two): it knows the lines of inlined calls.
        self.gdb_frame = gdb_frame

    @property
    def lookup_pc(self):
        return self.pc - 1 if self.caller else self.pc

    def functions(self):
        """[(function, file:line or None)], innermost (inlined) first."""
        if self.gdb_frame is None:
            funcs = functions_at(self.lookup_pc)
            return [(f, line_at(self.lookup_pc) if i == 0 else None) for i, f in enumerate(funcs)]
        out, f = [], self.gdb_frame
        while f is not None:
            sal = f.find_sal()
            line = None
            if sal.symtab is not None and sal.line:
                line = "%s:%d" % (os.path.normpath(sal.symtab.filename), sal.line)
            name = f.function().print_name if f.function() else (f.name() or "??")
            out.append((name, line))
            if f.type() != gdb.INLINE_FRAME:
                break
            f = f.older()
        return out


def walk_from(pc, fp, sp=None, first_caller_frame=None, gdb_frame=None):
    """Frames from (pc, fp) by frame pointers: each frame's [fp] is the next
    fp and [fp+8] the next pc. Crosses into parents at start trampolines
    (their frame record is the control context). Stops at a null or
    unreadable link, or at a frame pointer seen before (a suspended
    segment's outermost trampoline leads back to its suspension point)."""
    frames = [Frame(pc, fp, sp if sp is not None else fp, False, gdb_frame)]
    if first_caller_frame is not None:
        frames.append(first_caller_frame)
    seen = set()
    while len(frames) < MAX_FRAMES:
        fp = frames[-1].fp
        if fp == 0 or fp in seen or fp % 8:
            break
        seen.add(fp)
        try:
            next_fp, next_pc = read_u64(fp), read_u64(fp + 8)
        except gdb.MemoryError:
            break
        if next_pc == 0 or any(f.pc == next_pc and f.fp == next_fp for f in frames):
            break
        # Above the preemption stub is the instruction a tick interrupted:
        # looked up as it is, not as a return address (pc - 1).
        interrupted = PREEMPT_STUB in functions_at(frames[-1].lookup_pc)
        frames.append(Frame(next_pc, next_fp, next_fp, not interrupted))
        if next_fp == 0:
            break
    return frames


def walk_current():
    """The walk from the innermost frame: GDB's own unwinder takes the first
    step (it knows prologues), frame pointers the rest."""
    newest = f0 = gdb.newest_frame()
    while f0.type() == gdb.INLINE_FRAME and f0.older() is not None:
        f0 = f0.older()
    pc = f0.pc()
    rbp = int(f0.read_register("rbp"))
    rsp = int(f0.read_register("rsp"))
    first = None
    f1 = None
    # GDB's unwinder needs the function's call-frame information: none for
    # the trampoline (assembly), where frame pointers alone are right.
    if f0.function() is not None:
        try:
            f1 = f0.older()
        except gdb.error:
            f1 = None
    if f1 is not None and f1.pc() != 0:
        f1_fp = int(f1.read_register("rbp"))
        first = Frame(f1.pc(), f1_fp, f1_fp, True, f1)
    # With `first`, the walk goes on from f1's frame pointer and never
    # follows f0's: right even when f0 has not set up its frame yet.
    return walk_from(pc, rbp, rsp, first, newest)


def stack_name(addr, stores):
    """Which stack `addr` lies on, and the continuation that runs there."""
    for store in stores:
        for c in store.conts:
            if c.top and c.holds(addr) and c.state in LIVE_STATES:
                return (
                    "continuation %s of store %d (%s), stack slot %s, TOS %#x"
                    % (c.name, store.id, c.state, c.slot(), c.top),
                    c,
                )
    slot = slot_of(addr)
    if slot is not None:
        return "stack slot %d (no live continuation)" % slot, None
    return "kernel stack", None


def frame_text(frame, full):
    """One frame's name and place. `full`: every inlined function, innermost
    first. Otherwise one line: the innermost function outside the runtime
    (kernel::cont, core), with the runtime function it was inside when it
    stopped (inlined into it, so no frame of its own)."""
    funcs = frame.functions()

    def named(name, line):
        return name + (" at %s" % line if line else "")

    if full:
        return [named(*funcs[0])] + ["inlined into %s" % named(*f) for f in funcs[1:]]
    for i, (name, line) in enumerate(funcs):
        if not is_runtime(name):
            if i == 0 or line:
                return [named(name, line)]
            return ["%s, in %s (inlined)" % (name, funcs[i - 1][0])]
    return [named(*funcs[0])]


def print_frames(frames, stores, full=False):
    group = None
    for number, frame in enumerate(frames):
        name, _ = stack_name(frame.sp if number == 0 else frame.fp, stores)
        if name != group:
            gdb.write("%s:\n" % name)
            group = name
        text = frame_text(frame, full)
        gdb.write("  #%-3d %#018x in %s\n" % (number, frame.pc, text[0]))
        for more in text[1:]:
            gdb.write("%s%s\n" % (" " * 28, more))


# ------------------------------------------------------------ commands ---


def readable(invoke):
    """Turns an unreadable kernel address into one clear error: before the
    bootloader has mapped the kernel, nothing of it can be read."""

    def wrapped(self, *args):
        try:
            return invoke(self, *args)
        except gdb.MemoryError as e:
            raise gdb.GdbError(
                "%s (is the kernel mapped yet? stop at kernel::boot::init or later)" % e
            )

    return wrapped



def describe(c, stores):
    """What a continuation is doing, for the last column of the listing."""
    if c.state in ("Running", "Parent"):
        return "under [%s]" % ", ".join(c.handlers())
    if c.state == "Suspended":
        rip, rbp = c.suspension_point()
        frames = walk_from(rip, rbp)
        where = frame_text(frames[0], False)[0]
        # A tick's preemption passes through the stub on its way out.
        how = "suspended"
        for frame in frames:
            names = [f for f, _ in frame.functions()]
            if PREEMPT_STUB in names:
                how = "preempted"
            if not all(is_runtime(f) for f in names):
                where = frame_text(frame, False)[0]
                break
        return "%s in %s; sent %s, expects %s" % (
            how,
            where,
            types_text(c.value["payload"]),
            types_text(c.value["expected"]),
        )
    return "not started"


def parent_text(c, stores):
    # `parent` means something only while the continuation is active: a
    # suspend leaves the outermost's word as it was (no cut on the hot path).
    if c.state not in ("Running", "Parent"):
        return "-"
    if c.parent == 0:
        return "kernel"
    p = find_cont(c.parent, stores)
    return p.name if p is not None else "%#x" % c.parent


class InfoContinuations(gdb.Command):
    """List every live continuation of every store.

For each store: its id, address and running continuation; for each live
continuation (Fresh, Running, Parent, Suspended): its number (its place in
the store's table), state, stack slot and TOS, parent (a number, `kernel`
for the kernel's own stack), revision (store id : uses of the record), and
what it runs under (the handlers of the resume that is its parent) or
where it is suspended or was preempted (the first function outside the
runtime, the payload types it sent and the types its next resume must
send)."""

    def __init__(self):
        super().__init__("info continuations", gdb.COMMAND_STACK)

    @readable
    def invoke(self, arg, from_tty):
        stores = live_stores()
        if not stores:
            gdb.write("no live stores\n")
            return
        for store in stores:
            live = store.live()
            cur = store.by_addr(store.current)
            gdb.write(
                "store %d at %#x: %d live continuation%s, running: %s\n"
                % (
                    store.id,
                    store.addr,
                    len(live),
                    "" if len(live) == 1 else "s",
                    cur.name if cur else "none",
                )
            )
            for c in live:
                gdb.write(
                    "  %-4s %-9s slot %-4s TOS %#x  parent %-6s rev %-6s %s\n"
                    % (
                        c.name,
                        c.state,
                        c.slot(),
                        c.top,
                        parent_text(c, stores),
                        revision_text(c.revision),
                        describe(c, stores),
                    )
                )


class Conts(gdb.Command):
    """Alias for `info continuations`."""

    def __init__(self):
        super().__init__("conts", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        gdb.execute("info continuations", from_tty)


def contref_of(value):
    """The ContRef address behind a handle, a typed handle or a ContRef."""
    t = value.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        value = value.dereference()
        t = value.type.strip_typedefs()
    names = [f.name for f in t.fields()]
    if "contref" in names:
        return int(value["contref"])
    if t.name and t.name.endswith("ContRef"):
        return int(value.address)
    raise gdb.GdbError("cbt: %s is not a continuation handle or ContRef" % t)


class ChainBacktrace(gdb.Command):
    """Backtrace across continuation stacks, in chain order.

chain-backtrace        from the current frame, through every continuation
                       of the running chain, into the kernel's stack;
chain-backtrace EXPR   from where the suspended continuation EXPR stopped
                       (EXPR: a ContObj, a typed Cont or Suspension, or a
                       ContRef such as $cont(N)), through its segment;
chain-backtrace -full  with every inlined function of every frame (by
                       default a frame shows the innermost function outside
                       the runtime, and the runtime function inlined in it
                       where it stopped).

Frames are grouped under the stack they run on: a continuation (its
number in its store, state, stack slot and TOS) or the kernel stack."""

    def __init__(self):
        super().__init__("chain-backtrace", gdb.COMMAND_STACK)

    @readable
    def invoke(self, arg, from_tty):
        stores = live_stores()
        words = arg.split()
        full = "-full" in words
        arg = " ".join(w for w in words if w != "-full")
        if arg:
            c = find_cont(contref_of(gdb.parse_and_eval(arg)), stores)
            if c is None or c.state not in ("Suspended", "Fresh"):
                raise gdb.GdbError("cbt: not a suspended or fresh continuation")
            if c.state == "Fresh":
                gdb.write("continuation %s of store %d has not started\n" % (c.name, c.store.id))
                return
            rip, rbp = c.suspension_point()
            print_frames(walk_from(rip, rbp), stores, full)
            return
        print_frames(walk_current(), stores, full)


class Cbt(gdb.Command):
    """Alias for `chain-backtrace`."""

    def __init__(self):
        super().__init__("cbt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        gdb.execute("chain-backtrace " + arg, from_tty)


class ContFunction(gdb.Function):
    """$cont(N) is continuation #N of store 1 (its ContRef); $cont(S, N)
    that of store S. For `print $cont(1)` and `chain-backtrace $cont(1)`."""

    def __init__(self):
        super().__init__("cont")

    @readable
    def invoke(self, a, b=None):
        store_id, index = (1, int(a)) if b is None else (int(a), int(b))
        for store in live_stores():
            if store.id == store_id:
                if 0 <= index < len(store.conts):
                    return store.conts[index].value
                raise gdb.GdbError("$cont: store %d has no #%d" % (store_id, index))
        raise gdb.GdbError("$cont: no live store %d" % store_id)


# ------------------------------------------------------ pretty-printers ---


def handle_text(contref, revision):
    if contref == 0:
        return "null continuation handle"
    c = find_cont(contref)
    if c is None:
        return "handle of store %d (store gone), rev %s" % (
            revision >> REVISION_STORE_SHIFT,
            revision_text(revision),
        )
    if c.revision != revision:
        return "used handle of continuation %s of store %d (rev %s, record now at %s)" % (
            c.name,
            c.store.id,
            revision_text(revision),
            revision_text(c.revision),
        )
    return "handle of continuation %s of store %d: %s, slot %s, rev %s" % (
        c.name,
        c.store.id,
        c.state,
        c.slot(),
        revision_text(revision),
    )


class HandlePrinter:
    """ContObj, typed Cont and Suspension: which continuation, and whether
    the handle is still good for it."""

    def __init__(self, value):
        self.value = value

    def to_string(self):
        try:
            return handle_text(int(self.value["contref"]), int(self.value["revision"]))
        except (gdb.error, gdb.MemoryError) as e:
            return "continuation handle (unreadable: %s)" % e


class ContRefPrinter:
    def __init__(self, value):
        self.value = value

    def to_string(self):
        try:
            stores = live_stores()
            c = find_cont(int(self.value.address), stores)
            if c is None:
                return "ContRef (of no live store)"
            return "ContRef %s of store %d: %s, slot %s, TOS %#x, parent %s, rev %s" % (
                c.name,
                c.store.id,
                c.state,
                c.slot(),
                c.top,
                parent_text(c, stores),
                revision_text(c.revision),
            )
        except (gdb.error, gdb.MemoryError) as e:
            return "ContRef (unreadable: %s)" % e


class StorePrinter:
    def __init__(self, value):
        self.value = value

    def to_string(self):
        try:
            store = StoreView(int(self.value.address))
            cur = store.by_addr(store.current)
            return "Store %d: %d live continuations of %d records, running: %s" % (
                store.id,
                len(store.live()),
                len(store.conts),
                cur.name if cur else "none",
            )
        except (gdb.error, gdb.MemoryError) as e:
            return "Store (unreadable: %s)" % e


def build_printers():
    pp = gdb.printing.RegexpCollectionPrettyPrinter("contkernel")
    pp.add_printer("ContObj", r"^kernel::cont::runtime::contref::ContObj$", HandlePrinter)
    pp.add_printer("Cont", r"^kernel::cont::doors::typed::Cont<.*>$", HandlePrinter)
    pp.add_printer("Suspension", r"^kernel::cont::doors::typed::Suspension<.*>$", HandlePrinter)
    pp.add_printer("ContRef", r"^kernel::cont::runtime::contref::ContRef$", ContRefPrinter)
    pp.add_printer("Store", r"^kernel::cont::runtime::store::Store$", StorePrinter)
    return pp


InfoContinuations()
Conts()
ContFunction()
ChainBacktrace()
Cbt()
gdb.printing.register_pretty_printer(None, build_printers(), replace=True)
