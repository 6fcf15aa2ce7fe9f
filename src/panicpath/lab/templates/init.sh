#!/bin/sh
# /init of the panicpath lab initramfs (built by panicpath.lab.initramfs).
# The same script runs in the first kernel and in the crash kernel; the crash
# kernel is recognised by /proc/vmcore. What to do comes from lab.* kernel
# parameters (panicpath.lab.qemu.kernel_cmdline). Markers that must survive a
# panic go to /dev/kmsg (printk is flushed by panic(), tty output may be lost).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
arg() {
  for w in $(cat /proc/cmdline); do
    case "$w" in lab.$1=*) echo "${w#lab.$1=}"; return;; esac
  done
}
KV=$(uname -r)
MODS=/lib/modules/$KV
RAMOOPS_ADDR=$(arg ramoops_addr)
ramoops() {
  insmod $MODS/reed_solomon.ko
  insmod $MODS/ramoops.ko mem_address=$RAMOOPS_ADDR mem_size=0x100000 record_size=0x20000
}

# The vmcore read back (panicpath.lab.vmcore). /proc/vmcore is an ELF64 core file,
# little-endian on every lab arch (x86_64, arm64, ppc64el): ELF header, program
# headers, PT_NOTE data, then memory (fs/proc/vmcore.c, 6.1). u BYTES OFFSET prints
# one unsigned field of it.
u() { od -An -t "u$1" -j "$2" -N "$1" /proc/vmcore | tr -d ' '; }
# Everything before the memory: the headers and the notes (NT_PRSTATUS per CPU,
# VMCOREINFO), in base64 lines between LABVMCORE begin/end.
vmcore_headers() {
  phoff=$(u 8 32); phent=$(u 2 54); phnum=$(u 2 56)
  end=$((phoff + phent * phnum)); i=0
  while [ "$i" -lt "$phnum" ]; do
    p=$((phoff + phent * i))
    if [ "$(u 4 $p)" = 4 ]; then
      e=$(($(u 8 $((p + 8))) + $(u 8 $((p + 32)))))
      [ "$e" -gt "$end" ] && end=$e
    fi
    i=$((i + 1))
  done
  [ "$end" -gt 65536 ] && end=65536
  echo "LABVMCORE begin bytes=$end"
  dd if=/proc/vmcore bs="$end" count=1 2>/dev/null | base64 | sed 's/^/LABVMCORE /'
  echo "LABVMCORE end md5=$(dd if=/proc/vmcore bs="$end" count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
}
# The page at physical address $1 (the dma-active page), read twice 3 s apart: its
# file offset is that of the PT_LOAD holding it plus the distance into it.
vmcore_page() {
  phys=$(($1)); off=; i=0
  while [ "$i" -lt "$phnum" ]; do
    p=$((phoff + phent * i))
    if [ "$(u 4 $p)" = 1 ]; then
      pa=$(u 8 $((p + 24))); sz=$(u 8 $((p + 32)))
      [ "$phys" -ge "$pa" ] && [ "$phys" -lt $((pa + sz)) ] && off=$(($(u 8 $((p + 8))) + phys - pa))
    fi
    i=$((i + 1))
  done
  # not in a PT_LOAD, or past 2^63 after a PT_LOAD of bogus size (/proc/vmcore's
  # offsets add the sizes up, fs/proc/vmcore.c; arm64 6.1's kexec-tools header): not
  # readable there. The old kernel's RAM is not the crash kernel's RAM, so /dev/mem maps
  # it (drivers/char/mem.c mmap_mem, devmem_is_allowed: !page_is_ram, 6.1): busybox
  # devmem reads its first 64 bytes, which the dma-active writer keeps changing.
  if [ -z "$off" ] || [ "$off" -lt 0 ] || [ $((off % 4096)) != 0 ]; then
    if devmem "$phys" 64 >/dev/null 2>&1; then
      for n in 1 2; do
        [ "$n" = 2 ] && sleep 3
        w=; j=0
        while [ "$j" -lt 64 ]; do w="$w $(devmem $((phys + j)) 64)"; j=$((j + 8)); done
        echo "LABINFO vmcore page phys=$1 devmem read=$n md5=$(echo "$w" | md5sum | cut -d' ' -f1)"
      done
      return
    fi
    echo "LABINFO vmcore page phys=$1 not-found offset=$off"
    return
  fi
  for n in 1 2; do
    [ "$n" = 2 ] && sleep 3
    echo "LABINFO vmcore page phys=$1 offset=$off read=$n md5=$(dd if=/proc/vmcore bs=4096 \
      skip=$((off / 4096)) count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
  done
}

if [ -e /proc/vmcore ]; then
  # the host may send "PAGE 0xADDR" (panicpath.lab.harness) once it sees CRASH-KERNEL-UP
  stty -echo < /dev/console
  echo "LABMARK CRASH-KERNEL-UP"
  # a slow dump (lab.dump_delay, panicpath.lab.scenario dump_delay_s): a stand-in for a
  # long makedumpfile copy, before anything is read from /proc/vmcore
  DELAY=$(arg dump_delay)
  if [ -n "$DELAY" ]; then
    echo "LABINFO dump delay ${DELAY} s"
    sleep "$DELAY"
  fi
  echo "LABINFO vmcore_size=$(stat -c %s /proc/vmcore)"
  vmcore_headers
  if [ "$(arg ramoops)" = "1" ]; then
    ramoops
    mkdir -p /sys/fs/pstore
    mount -t pstore pstore /sys/fs/pstore
    for f in /sys/fs/pstore/*; do
      [ -f "$f" ] || continue
      echo "LABINFO pstore file $(basename "$f") size=$(stat -c %s "$f")"
      grep -E '^Panic#|Kernel panic - not syncing|LABPANIC|Kernel Offset|end Kernel panic' "$f" \
        | sed 's/^/LABPSTORE /'
    done
  fi
  read -t 0.3 -r ASK < /dev/console
  case "$ASK" in "PAGE "*) vmcore_page "${ASK#PAGE }";; esac
  echo "LABMARK CRASH-KERNEL-DONE"
  sync
  poweroff -f
fi

echo "LABMARK FIRST-KERNEL-INIT"
echo 1 > /proc/sys/kernel/sysrq
if [ "$(arg pvpanic)" = "1" ]; then
  insmod $MODS/pvpanic.ko
  insmod $MODS/pvpanic-mmio.ko
fi
[ "$(arg ramoops)" = "1" ] && ramoops
if [ "$(arg kdump)" = "1" ]; then
  # the crash kernel writes where this one does (ttyS0, ttyAMA0, hvc0: qemu.Machine);
  # cma=0: arm64 7.3's default 64 MiB CMA area leaves a 128M reservation 12 MB (docs/lab.md)
  CONSOLE=$(sed -n 's/.*\(console=[^ ]*\).*/\1/p' /proc/cmdline)
  DELAY=$(arg dump_delay)
  kexec -i -p /boot/vmlinuz --initrd=/boot/crash-initrd.gz \
    --append="${CONSOLE:-console=ttyS0} cma=0 irqpoll nr_cpus=1 reset_devices panic=-1 lab.ramoops=$(arg ramoops) lab.ramoops_addr=$RAMOOPS_ADDR${DELAY:+ lab.dump_delay=$DELAY}"
  echo "LABINFO kexec -p rc=$? kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded)"
fi
TRIGGER=$(arg trigger)
PROBE=$(arg probe)
if [ "$(arg wait)" = "1" ]; then
  # Snapshot point (panicpath.lab.snapshot): the host may savevm here, and restores
  # resume here. One line "GO key=value ..." brings what a running kernel can
  # change, then as many lines of base64 as probe= says: the gzipped probe module,
  # whose md5 the GO line gives.
  stty -echo < /dev/console
  echo "LABMARK WAITING"
  read -r GO < /dev/console
  N=0
  for kv in $GO; do
    case "$kv" in
      post=*) echo "${kv#post=}" > /sys/module/kernel/parameters/crash_kexec_post_notifiers;;
      print=*) echo "${kv#print=}" > /proc/sys/kernel/panic_print;;
      panic=*) echo "${kv#panic=}" > /proc/sys/kernel/panic;;
      nmi=*) echo "${kv#nmi=}" > /proc/sys/kernel/unknown_nmi_panic;;
      trigger=*) TRIGGER="${kv#trigger=}";;
      probe=*) N="${kv#probe=}";;
      md5=*) MD5="${kv#md5=}";;
    esac
  done
  PROBE=0
  if [ "$N" -gt 0 ]; then
    head -n "$N" < /dev/console | base64 -d | gunzip > /lab/panicpath_probe.ko
    if [ "$(md5sum < /lab/panicpath_probe.ko)" = "$MD5  -" ]; then
      PROBE=1
    else
      echo "LABMARK PROBE-CORRUPT"
    fi
  fi
  echo "LABINFO runtime post=$(cat /sys/module/kernel/parameters/crash_kexec_post_notifiers)" \
    "print=$(cat /proc/sys/kernel/panic_print) panic=$(cat /proc/sys/kernel/panic)" \
    "nmi=$(cat /proc/sys/kernel/unknown_nmi_panic) trigger=$TRIGGER probe=$PROBE"
fi
# A hardware watchdog (lab.watchdog=SECONDS): the i6300esb driver (never in the crash
# kernel: its probe, esb_initdevice(), would disable the timer) and busybox's daemon, which
# sets the timeout (WDIOC_SETTIMEOUT) and pets it every 0.5 s until the panic stops it.
WDT=$(arg watchdog)
if [ -n "$WDT" ]; then
  [ -e $MODS/watchdog.ko ] && insmod $MODS/watchdog.ko
  [ -e $MODS/i6300esb.ko ] && insmod $MODS/i6300esb.ko heartbeat="$WDT"
  watchdog -T "$WDT" -t 500ms /dev/watchdog
  echo "LABINFO watchdog i6300esb heartbeat=$WDT rc=$?"
fi
# The probe last: a 'lock' probe parks a CPU with a spinlock held.
if [ "$PROBE" = "1" ]; then
  insmod /lab/panicpath_probe.ko && echo "LABINFO probe loaded"
fi
# Faults that act just before the panic (panicpath.lab.probe ARMED_FAULTS) wait for
# a write to the probe's "arm" parameter, made on CPU 0 by the shell that then
# triggers (sysrq) or says READY (nmi: the host injects the NMI when it sees it) and
# spins there: once armed, a victim CPU runs nothing else, so nothing that follows
# may need it (a process woken onto it, a tty write waiting for the UART interrupt
# it takes: READY goes through printk).
ARM=/sys/module/panicpath_probe/parameters/arm
[ -e $ARM ] || ARM=
if [ "$TRIGGER" = nmi ] && [ -n "$ARM" ]; then
  taskset 1 sh -c "echo 1 > $ARM; echo 'LABMARK READY' > /dev/kmsg; while :; do :; done"
fi
echo "LABMARK READY"
case "$TRIGGER" in
  sysrq)
    echo "LABMARK TRIGGER-PANIC" > /dev/kmsg
    if [ -n "$ARM" ]; then
      taskset 1 sh -c "echo 1 > $ARM; echo c > /proc/sysrq-trigger"
    else
      taskset 1 sh -c 'echo c > /proc/sysrq-trigger'
    fi
    ;;
esac
# nmi: the host injects it over QMP once READY is seen.
exec sh -c 'while :; do sleep 3600; done'
