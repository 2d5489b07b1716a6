// A real SMTP server on 127.0.0.1 (npm smtp-server, parsed with mailparser) for the
// sender's tests: it keeps every message, and can refuse a recipient once with a 4xx,
// always with a 5xx, or be stopped and started again on the same port.
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

export async function startSmtp({ port = 0 } = {}) {
  const mail = [];
  const refusedOnce = new Set();
  let server;
  const start = async (onPort) => {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo(address, session, callback) {
        const to = address.address;
        if (to.startsWith('reject-')) return callback(Object.assign(new Error('5.1.1 No such user here'), { responseCode: 550 }));
        if (to.startsWith('tempfail-') && !refusedOnce.has(to)) {
          refusedOnce.add(to);
          return callback(Object.assign(new Error('4.7.1 Try again later'), { responseCode: 451 }));
        }
        return callback();
      },
      onData(stream, session, callback) {
        simpleParser(stream).then((parsed) => {
          mail.push({ envelope: session.envelope.rcptTo.map((r) => r.address), parsed });
          callback();
        }, callback);
      },
    });
    await new Promise((resolve, reject) => { server.once('error', reject); server.listen(onPort, '127.0.0.1', resolve); });
    return server.server.address().port;
  };
  const bound = await start(port);
  return {
    port: bound,
    mail,
    to: (address) => mail.filter((m) => m.envelope.includes(address)),
    stop: () => new Promise((resolve) => server.close(resolve)),
    restart: () => start(bound),
  };
}
