#!/usr/bin/python3
"""The cheapest lossless datapath there is, for bench/wire-throughput.sh: it reads a device
through the same TPACKET_V3 receive ring nvdp's afpacket: ports use (the same 64 blocks of
128 KiB, 2 ms block timeout), counts the frames and does nothing else. The kernel's copy into
the ring, on the sender's CPU, is all it costs the generator, so what the generator offers while
it reads is the most any datapath reading the VM port through AF_PACKET can be offered: the
ceiling of the bench's ratio, whatever the datapath does with the frames.

Python is enough: it reads a block's count only when the kernel hands the block over (a
thousand frames or so), never single frames, and looks at the block it waits for every 20 us
(sleeping in between) rather than spinning on it. Prints the count on SIGINT or SIGTERM.
Usage: null-reader.py IFNAME   (root)
"""
import mmap
import signal
import socket
import struct
import sys
import time

SOL_PACKET, PACKET_RX_RING, PACKET_VERSION, TPACKET_V3 = 263, 5, 10, 2
TP_STATUS_KERNEL, TP_STATUS_USER = 0, 1
ETH_P_ALL = 0x0003
BLOCK_SIZE, BLOCK_COUNT, FRAME_SIZE, RETIRE_MS = 128 * 1024, 64, 2048, 2
STATUS, PACKETS = 8, 12  # tpacket_block_desc: version, offset_to_priv, then block_status, num_pkts
LOOK_INTERVAL = 20e-6  # seconds between looks at a block the kernel is still filling

stop = False


def on_signal(_signum, _frame):
    global stop
    stop = True


def main():
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
    frames = BLOCK_SIZE // FRAME_SIZE * BLOCK_COUNT
    s.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack("7I", BLOCK_SIZE, BLOCK_COUNT, FRAME_SIZE, frames, RETIRE_MS, 0, 0))
    ring = mmap.mmap(s.fileno(), BLOCK_SIZE * BLOCK_COUNT, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    s.bind((sys.argv[1], ETH_P_ALL))
    print("ready", flush=True)
    count, block = 0, 0
    while not stop:
        at = block * BLOCK_SIZE
        if struct.unpack_from("I", ring, at + STATUS)[0] & TP_STATUS_USER == 0:
            # The kernel bumps the block's packet count, in the status word's cache line, on
            # every frame it adds: looking again at once would take that line from the
            # sender's core once per frame and slow the generator (measured: 0.66-0.94 Mpps
            # offered looking every microsecond, 0.81-1.07 every 5 to 50).
            time.sleep(LOOK_INTERVAL)
            continue
        count += struct.unpack_from("I", ring, at + PACKETS)[0]
        struct.pack_into("I", ring, at + STATUS, TP_STATUS_KERNEL)
        block = (block + 1) % BLOCK_COUNT
    print(count, flush=True)


if __name__ == "__main__":
    main()
