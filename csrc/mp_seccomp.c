/* Compile a seccomp profile: see mp_seccomp.h.

   libseccomp builds the filter (its rules, arches and the binary-tree
   layout of SCMP_FLTATR_CTL_OPTIMIZE 2, so that a container's every system
   call walks a few comparisons, not the whole list) and exports it as
   classic BPF into a memfd; the program is read back into the caller's
   buffer, and a stub put in front of it, as runc's patchbpf does: a system
   call of the native arch numbered above every one the profile names gets
   ENOSYS, not the default EPERM. A libc newer than this libseccomp then
   falls back as it would on an older kernel (glibc tries fchmodat2 or
   clone3 first and takes ENOSYS as "not here"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mp_seccomp.h"

#define STUB_LEN 6
#define X32_SYSCALL_BIT 0x40000000U

static int
action_of (int action, int ret, uint32_t *out)
{
  switch (action)
    {
    case MP_SCMP_ACT_KILL_THREAD:
      *out = SCMP_ACT_KILL;
      return 0;
    case MP_SCMP_ACT_KILL_PROCESS:
      *out = SCMP_ACT_KILL_PROCESS;
      return 0;
    case MP_SCMP_ACT_TRAP:
      *out = SCMP_ACT_TRAP;
      return 0;
    case MP_SCMP_ACT_ERRNO:
      *out = SCMP_ACT_ERRNO ((uint32_t) ret);
      return 0;
    case MP_SCMP_ACT_TRACE:
      *out = SCMP_ACT_TRACE ((uint32_t) ret);
      return 0;
    case MP_SCMP_ACT_ALLOW:
      *out = SCMP_ACT_ALLOW;
      return 0;
    case MP_SCMP_ACT_LOG:
      *out = SCMP_ACT_LOG;
      return 0;
    }
  return -EINVAL;
}

static int
compare_of (int op, enum scmp_compare *out)
{
  static const enum scmp_compare ops[] = {
    [MP_SCMP_CMP_NE] = SCMP_CMP_NE, [MP_SCMP_CMP_LT] = SCMP_CMP_LT,
    [MP_SCMP_CMP_LE] = SCMP_CMP_LE, [MP_SCMP_CMP_EQ] = SCMP_CMP_EQ,
    [MP_SCMP_CMP_GE] = SCMP_CMP_GE, [MP_SCMP_CMP_GT] = SCMP_CMP_GT,
    [MP_SCMP_CMP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
  };

  if (op < MP_SCMP_CMP_NE || op > MP_SCMP_CMP_MASKED_EQ)
    return -EINVAL;
  *out = ops[op];
  return 0;
}

static int
add_rule (scmp_filter_ctx ctx, const struct mp_seccomp_rule *r, uint32_t def,
          struct mp_seccomp_spec *s)
{
  struct scmp_arg_cmp cmp[MP_SECCOMP_MAX_ARGS];
  uint32_t action;
  int nr, ret;

  if (r->n_args < 0 || r->n_args > MP_SECCOMP_MAX_ARGS)
    return -EINVAL;
  if ((ret = action_of (r->action, r->ret, &action)) < 0)
    return ret;
  nr = seccomp_syscall_resolve_name (r->name);
  if (nr == __NR_SCMP_ERROR)
    {
      s->unknown++;  /* unknown here: runc skips it too */
      return 0;
    }
  if (nr > s->max_nr)
    s->max_nr = nr;  /* pseudo numbers (other arches only) are negative */
  if (action == def)
    return 0;  /* libseccomp refuses a rule that is the default */
  for (int i = 0; i < r->n_args; i++)
    {
      if ((ret = compare_of (r->args[i].op, &cmp[i].op)) < 0)
        return ret;
      cmp[i].arg = r->args[i].index;
      cmp[i].datum_a = r->args[i].value;
      cmp[i].datum_b = r->args[i].value_two;
    }
  return seccomp_rule_add_array (ctx, action, nr, (unsigned int) r->n_args, cmp);
}

/* The ENOSYS stub (see the top): A = arch; not native: on; A = nr; x32:
   on (or ENOSYS, when the program has no x32 part: x32_enosys); nr >
   max_nr: ENOSYS; on: the program. */
static void
put_stub (struct sock_filter *stub, uint32_t native, uint32_t max_nr, int x32_enosys)
{
  struct sock_filter insns[STUB_LEN] = {
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, native, 0, 4),
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    BPF_JUMP (BPF_JMP | BPF_JGE | BPF_K,
              native == AUDIT_ARCH_X86_64 ? X32_SYSCALL_BIT : 0xffffffffU,
              x32_enosys ? 1 : 2, 0),
    BPF_JUMP (BPF_JMP | BPF_JGT | BPF_K, max_nr, 0, 1),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
  };

  memcpy (stub, insns, sizeof insns);
}

static int
export (scmp_filter_ctx ctx, struct mp_seccomp_spec *s)
{
  size_t stub = STUB_LEN * sizeof (struct sock_filter);
  ssize_t n;
  off_t size;
  int ret = 0;
  int fd = memfd_create ("minipod-seccomp", MFD_CLOEXEC);

  if (fd < 0)
    return -errno;
  if ((ret = seccomp_export_bpf (ctx, fd)) < 0)
    goto out;
  size = lseek (fd, 0, SEEK_CUR);
  if (size < 0 || lseek (fd, 0, SEEK_SET) < 0)
    {
      ret = -errno;
      goto out;
    }
  if ((size_t) size + stub > (size_t) s->bpf_cap
      || (size_t) size + stub > MP_SECCOMP_MAX_BPF)
    {
      ret = -E2BIG;
      goto out;
    }
  put_stub ((struct sock_filter *) s->bpf, seccomp_arch_native (), (uint32_t) s->max_nr,
            s->x32_enosys);
  for (size_t done = 0; done < (size_t) size; done += (size_t) n)
    {
      n = read (fd, s->bpf + stub + done, (size_t) size - done);
      if (n <= 0)
        {
          ret = n < 0 ? -errno : -EIO;
          goto out;
        }
    }
  s->bpf_len = (int) (stub + (size_t) size);
out:
  close (fd);
  return ret;
}

int
mp_seccomp_compile (struct mp_seccomp_spec *s)
{
  scmp_filter_ctx ctx;
  uint32_t def;
  int ret;

  s->bpf_len = s->unknown = 0;
  s->max_nr = -1;
  s->failed_rule = s->failed_arch = -1;
  if ((ret = action_of (s->default_action, s->default_ret, &def)) < 0)
    return ret;
  ctx = seccomp_init (def);
  if (ctx == NULL)
    return -ENOMEM;
  for (int i = 0; i < s->n_arches; i++)
    {
      uint32_t arch = seccomp_arch_resolve_name (s->arches[i]);

      if (arch == 0)
        {
          s->failed_arch = i;
          ret = -EINVAL;
          goto out;
        }
      if (arch != seccomp_arch_native ()
          && (ret = seccomp_arch_add (ctx, arch)) < 0 && ret != -EEXIST)
        {
          s->failed_arch = i;
          goto out;
        }
    }
  for (int i = 0; i < s->n_rules; i++)
    if ((ret = add_rule (ctx, &s->rules[i], def, s)) < 0)
      {
        s->failed_rule = i;
        goto out;
      }
  if ((ret = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0)
    goto out;
  ret = export (ctx, s);
out:
  seccomp_release (ctx);
  return ret < 0 ? ret : 0;
}

int
mp_seccomp_version (void)
{
  const struct scmp_version *v = seccomp_version ();

  return (int) (v->major * 10000 + v->minor * 100 + v->micro);
}

int
mp_seccomp_x32 (void)
{
#ifdef __x86_64__
  /* getpid through the x32 table: ENOSYS on a kernel without x32 */
  return syscall (X32_SYSCALL_BIT | SYS_getpid) >= 0;
#else
  return 0;
#endif
}
