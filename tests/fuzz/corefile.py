"""ELF core files as the fuzzing tools see them: program headers, notes and
segment bytes, taken apart and put back together (make_seeds.py, heap_seed.py,
mutate_core.py). Little-endian x86_64 cores only, as strand reads."""
import struct

PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE = 1, 3, 6, 0x46494C45
EHDR_SIZE, PHDR_SIZE = 64, 56
PHDR = struct.Struct("<IIQQQQQQ")  # type flags offset vaddr paddr filesz memsz align
PRSTATUS_PID, PRSTATUS_REGS = 32, 112  # offsets in struct elf_prstatus
REG_RSP, REG_FS_BASE = 19, 21  # indices in user_regs_struct


class Phdr:
    def __init__(self, raw):
        (self.type, self.flags, self.offset, self.vaddr, self.paddr, self.filesz, self.memsz,
         self.align) = PHDR.unpack(raw)

    def pack(self):
        return PHDR.pack(self.type, self.flags, self.offset, self.vaddr, self.paddr, self.filesz, self.memsz,
                         self.align)


class Note:
    def __init__(self, name, type, desc):
        self.name, self.type, self.desc = name, type, desc

    def pack(self):
        pad = lambda b: b + b"\0" * (-len(b) % 4)
        return struct.pack("<III", len(self.name), len(self.desc), self.type) + pad(self.name) + pad(self.desc)


def parse_notes(blob):
    """The notes of a PT_NOTE segment's bytes (names keep their NUL)."""
    notes, off = [], 0
    while off + 12 <= len(blob):
        namesz, descsz, type = struct.unpack_from("<III", blob, off)
        name_off = off + 12
        desc_off = name_off + namesz + (-namesz % 4)
        end = desc_off + descsz + (-descsz % 4)
        if end > len(blob):
            break
        notes.append(Note(blob[name_off:name_off + namesz], type, blob[desc_off:desc_off + descsz]))
        off = end
    return notes


class Core:
    """A core taken apart: the ELF header, the program headers in file order,
    the notes of the first PT_NOTE and each PT_LOAD's bytes present in the file."""

    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4] != 2 or struct.unpack_from("<H", data, 16)[0] != 4:
            raise ValueError("not an ELF64 core")
        self.ehdr = bytearray(data[:EHDR_SIZE])
        phoff = struct.unpack_from("<Q", data, 32)[0]
        phnum = struct.unpack_from("<H", data, 56)[0]
        self.phdrs = [Phdr(data[phoff + i * PHDR_SIZE:phoff + (i + 1) * PHDR_SIZE]) for i in range(phnum)]
        self.notes = []
        self.data = {}  # index in phdrs -> bytes of a PT_LOAD present in the file
        for i, ph in enumerate(self.phdrs):
            if ph.type == PT_NOTE and not self.notes:
                self.notes = parse_notes(data[ph.offset:ph.offset + ph.filesz])
            elif ph.type == PT_LOAD:
                self.data[i] = bytes(data[ph.offset:ph.offset + ph.filesz])

    def loads(self):
        return [ph for ph in self.phdrs if ph.type == PT_LOAD]

    def pack(self):
        """The core laid out again: headers, notes, then each segment page-aligned."""
        notes = b"".join(n.pack() for n in self.notes)
        off = EHDR_SIZE + PHDR_SIZE * len(self.phdrs)
        body = bytearray()
        body_start = (off + len(notes) + 4095) & ~4095
        for i, ph in enumerate(self.phdrs):
            if ph.type == PT_NOTE:
                ph.offset, ph.filesz = off, len(notes)
            elif ph.type == PT_LOAD:
                seg = self.data.get(i, b"")
                ph.offset, ph.filesz = body_start + len(body), len(seg)
                body += seg
                body += b"\0" * (-len(body) % 4096)
        ehdr = bytearray(self.ehdr)
        struct.pack_into("<QQ", ehdr, 32, EHDR_SIZE, 0)  # e_phoff; e_shoff: no section headers
        struct.pack_into("<HHHH", ehdr, 56, len(self.phdrs), 64, 0, 0)  # e_phnum, e_shentsize, e_shnum, e_shstrndx
        head = bytes(ehdr) + b"".join(ph.pack() for ph in self.phdrs) + notes
        return head + b"\0" * (body_start - len(head)) + bytes(body)

    def shrink(self, whole=16384, keep=4096):
        """Segments over `whole` bytes keep their first `keep` (the rest reads as
        omitted memory): a small core with every note, for seeds."""
        for i, seg in self.data.items():
            if len(seg) > whole:
                self.data[i] = seg[:keep]
        return self

    def threads(self):
        """[(tid, rsp, fs_base)] from the NT_PRSTATUS notes."""
        out = []
        for n in self.notes:
            if n.type == NT_PRSTATUS and len(n.desc) >= PRSTATUS_REGS + 27 * 8:
                regs = struct.unpack_from("<27Q", n.desc, PRSTATUS_REGS)
                out.append((struct.unpack_from("<i", n.desc, PRSTATUS_PID)[0], regs[REG_RSP], regs[REG_FS_BASE]))
        return out

    def files(self):
        """[(start, end, path)] from NT_FILE."""
        for n in self.notes:
            if n.type == NT_FILE and len(n.desc) >= 16:
                count = struct.unpack_from("<Q", n.desc, 0)[0]
                names = n.desc[16 + 24 * count:].split(b"\0")
                return [(*struct.unpack_from("<QQ", n.desc, 16 + 24 * i), names[i].decode(errors="replace"))
                        for i in range(min(count, len(names)))]
        return []

    def segment_at(self, addr):
        for i, ph in enumerate(self.phdrs):
            if ph.type == PT_LOAD and ph.vaddr <= addr < ph.vaddr + ph.memsz:
                return i, ph
        return None, None

    def read(self, addr, n):
        i, ph = self.segment_at(addr)
        if ph is None:
            return b""
        off = addr - ph.vaddr
        return self.data.get(i, b"")[off:off + n]
