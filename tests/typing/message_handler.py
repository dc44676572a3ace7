"""A typed MessageHandler (length-prefixed messages)."""
import pyfast


class Counter(pyfast.MessageHandler):
    framing = "len32"
    max_size = 1 << 20
    idle_timeout = 30.0
    message_timeout = 5.0

    def setup(self) -> None:
        self.count = 0

    def handle_message(self, message: bytes) -> None:
        self.count += 1
        if message == b"quit":
            self.close()
            return
        self.send_message(b"%d:" % self.count + message)
        if self.queued > self.high_water:
            self.close()

    def finish(self) -> None:
        reason: BaseException | None = self.close_reason
        if reason is not None and isinstance(reason, pyfast.FramingError):
            print("framing:", reason)


def make() -> pyfast.TCPServer:
    server = pyfast.TCPServer(("127.0.0.1", 0), Counter)
    return server
