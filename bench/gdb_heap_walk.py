# gdb -batch -p PID -x bench/gdb_heap_walk.py: the same chunk walk of the main
# arena that strand does, in gdb's Python with libc6-dbg's types, for timing.
import time

import gdb

start = time.time()
inferior = gdb.selected_inferior()
arena = gdb.parse_and_eval("main_arena")
mp = gdb.parse_and_eval("mp_")
top = int(arena["top"])
chunk = int(mp["sbrk_base"])
used = free = 0
while chunk < top:
    size = int.from_bytes(inferior.read_memory(chunk + 8, 8).tobytes(), "little") & ~7
    nxt = chunk + size
    if int.from_bytes(inferior.read_memory(nxt + 8, 8).tobytes(), "little") & 1:
        used += 1
    else:
        free += 1
    chunk = nxt
print(f"gdb walk: {used} used, {free} free chunks in {time.time() - start:.3f} s")
