import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { describe, it } from "node:test";
import { createConnectionRegistry } from "../../src/runtime/node/connection-registry.ts";
import type { CloseReason } from "../../src/runtime/node/server-metrics.ts";

function fakeSocket(): Socket {
  const s = new EventEmitter() as unknown as Socket;
  s.destroy = () => {
    s.emit("close");
    return s;
  };
  return s;
}

function registry(max: number) {
  const closed: CloseReason[] = [];
  return { closed, connections: createConnectionRegistry(max, { closed: (r) => void closed.push(r), streamTimedOut() {}, requestRefused() {} }) };
}

describe("createConnectionRegistry()", () => {
  it("admit() at the cap closes the connection idle the longest, never a busy one", () => {
    const { connections, closed } = registry(3);
    const [a, b, c] = [fakeSocket(), fakeSocket(), fakeSocket()];
    const ca = connections.admit(a)!;
    const cb = connections.admit(b)!;
    const cc = connections.admit(c)!;
    ca.idle();
    cb.idle();
    cc.busy();
    ca.busy();
    ca.idle(); // a became idle again after b: b has been idle the longest now
    let evicted: string | undefined;
    cb.evict = () => (evicted = "b");
    ca.evict = () => (evicted = "a");
    assert.ok(connections.admit(fakeSocket()));
    assert.equal(evicted, "b");
    assert.deepEqual(closed, ["evicted"]);
    assert.equal(connections.size, 3);
    assert.equal(connections.idleCount, 1);
  });

  it("admit() answers undefined when every connection is busy, and admits again once one closes", () => {
    const { connections } = registry(2);
    const sockets = [fakeSocket(), fakeSocket()];
    for (const s of sockets) connections.admit(s)!.busy();
    assert.equal(connections.admit(fakeSocket()), undefined);
    sockets[0]!.destroy();
    assert.equal(connections.size, 1);
    assert.ok(connections.admit(fakeSocket()));
  });

  it("an evicted connection is not counted or picked again while it closes", () => {
    const { connections } = registry(1);
    const first = connections.admit(fakeSocket())!;
    let evictions = 0;
    first.evict = () => void evictions++; // an HTTP/2 GOAWAY: the socket closes later
    first.idle();
    const second = connections.admit(fakeSocket())!;
    second.busy();
    first.idle();
    assert.equal(connections.admit(fakeSocket()), undefined);
    assert.equal(evictions, 1);
  });

  it("deadline() runs once, and a new deadline or clearDeadline() replaces the pending one", async () => {
    const { connections } = registry(1);
    const socket = fakeSocket();
    const c = connections.admit(socket)!;
    const fired: string[] = [];
    c.deadline(5, () => fired.push("first"));
    c.deadline(10, () => fired.push("second"));
    await new Promise((r) => setTimeout(r, 30));
    c.deadline(5, () => fired.push("cleared"));
    c.clearDeadline();
    c.deadline(5, () => fired.push("closed"));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(fired, ["second"]);
  });
});
