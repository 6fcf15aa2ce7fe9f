// Panic-path registrations and crash_kexec_post_notifiers writers, the same
// query `panicpath scan` answers, as a Coccinelle semantic patch.
// Each match prints: KIND|file|line|detail
// Run: spatch --sp-file panic_path.cocci --dir LINUX [--include-headers] -j N

@notifier@
expression nb;
position p;
@@
atomic_notifier_chain_register@p(&panic_notifier_list, nb)

@script:python@
p << notifier.p;
nb << notifier.nb;
@@
print("panic_notifier_list|%s|%s|%s" % (p[0].file, p[0].line, nb))

@unregister@
expression nb;
position p;
@@
atomic_notifier_chain_unregister@p(&panic_notifier_list, nb)

@script:python@
p << unregister.p;
nb << unregister.nb;
@@
print("unregister|%s|%s|%s" % (p[0].file, p[0].line, nb))

@dumper@
expression d;
position p;
@@
kmsg_dump_register@p(d)

@script:python@
p << dumper.p;
d << dumper.d;
@@
print("kmsg_dumper|%s|%s|%s" % (p[0].file, p[0].line, d))

@ppc_crash@
expression f;
position p;
@@
crash_shutdown_register@p(f)

@script:python@
p << ppc_crash.p;
f << ppc_crash.f;
@@
print("crash_shutdown|%s|%s|%s" % (p[0].file, p[0].line, f))

@x86_crash@
expression f;
position p;
@@
machine_ops.crash_shutdown@p = f

@script:python@
p << x86_crash.p;
f << x86_crash.f;
@@
print("crash_shutdown|%s|%s|%s" % (p[0].file, p[0].line, f))

@writer@
expression v;
position p;
@@
crash_kexec_post_notifiers@p = v

@script:python@
p << writer.p;
v << writer.v;
@@
print("writer|%s|%s|%s" % (p[0].file, p[0].line, v))
