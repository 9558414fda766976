# Runs a command on a pseudo-terminal (so its stdin is a TTY), types the secret from the environment
# variable TYPE_SECRET once the prompt appears, and prints everything the terminal showed.
import os, pty, select, sys

secret = os.environ['TYPE_SECRET'].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b''
sent = False
while True:
    ready, _, _ = select.select([fd], [], [], 20)
    if not ready:
        break
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not sent and b'input hidden' in out:
        os.write(fd, secret + b'\r')
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
