/* Compile a seccomp profile into the classic BPF program the kernel loads
 * (libseccomp), once per profile and capability set, in the supervisor; a
 * container's setup loads the result right before exec (mp_start.c's
 * MP_OP_SECCOMP, mp_exec.c). Which rules apply (the profile's includes and
 * excludes of capabilities, arches and kernels) is decided in Python
 * (minipod/kernel/seccomp.py); this is the mechanism. Contract as
 * mp_sys.h: 0 or -errno, the rest reported in the spec. */
#ifndef MP_SECCOMP_H
#define MP_SECCOMP_H

#include <stdint.h>

/* A rule's or the default action (the OCI spec's SCMP_ACT_*) */
#define MP_SCMP_ACT_KILL_THREAD 1
#define MP_SCMP_ACT_KILL_PROCESS 2
#define MP_SCMP_ACT_TRAP 3
#define MP_SCMP_ACT_ERRNO 4   /* ret: the errno */
#define MP_SCMP_ACT_TRACE 5   /* ret: the tracer's message */
#define MP_SCMP_ACT_ALLOW 6
#define MP_SCMP_ACT_LOG 7

/* An argument's comparison (SCMP_CMP_*) */
#define MP_SCMP_CMP_NE 1
#define MP_SCMP_CMP_LT 2
#define MP_SCMP_CMP_LE 3
#define MP_SCMP_CMP_EQ 4
#define MP_SCMP_CMP_GE 5
#define MP_SCMP_CMP_GT 6
#define MP_SCMP_CMP_MASKED_EQ 7  /* (arg & value) == value_two */

#define MP_SECCOMP_MAX_ARGS 6
/* BPF_MAXINSNS instructions of 8 bytes: the most the kernel loads */
#define MP_SECCOMP_MAX_BPF 32768

struct mp_seccomp_arg
{
  unsigned int index;
  int op;  /* MP_SCMP_CMP_* */
  uint64_t value;
  uint64_t value_two;
};

struct mp_seccomp_rule
{
  const char *name;  /* a syscall; one libseccomp does not know is skipped */
  int action;        /* MP_SCMP_ACT_* */
  int ret;
  int n_args;        /* all must hold (on distinct arguments; Python splits
                        a rule that tests one argument twice, as runc) */
  struct mp_seccomp_arg args[MP_SECCOMP_MAX_ARGS];
};

struct mp_seccomp_spec
{
  /* in */
  int default_action;
  int default_ret;
  const char *const *arches;  /* libseccomp's names ("x86_64", "x86"...)
                                 besides the native one */
  int n_arches;
  const struct mp_seccomp_rule *rules;
  int n_rules;
  unsigned char *bpf;         /* out: the program, bpf_cap bytes of room */
  int bpf_cap;
  int x32_enosys;             /* x86-64 only: x32 system calls get ENOSYS
                                 (for a kernel that refuses them anyway;
                                 mp_seccomp_x32 says) */
  /* out */
  int bpf_len;
  int unknown;      /* rules skipped: syscalls this libseccomp does not know */
  int max_nr;       /* the native arch's largest syscall number named */
  int failed_rule;  /* the rule libseccomp refused, or -1 */
  int failed_arch;  /* the arch it does not know, or -1 */
};

int mp_seccomp_compile (struct mp_seccomp_spec *spec);
/* libseccomp's version as major * 10000 + minor * 100 + micro: a program
   compiled by another version is compiled again (kernel/seccomp.py). */
int mp_seccomp_version (void);
/* Whether this kernel runs x32 system calls (x86-64 only; most distributions'
   kernels refuse them): 1 or 0. */
int mp_seccomp_x32 (void);

#endif
