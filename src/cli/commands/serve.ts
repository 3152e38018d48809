/** `serve`: netlab's own small web server, the command the demo lab's web container runs. */
import type { Command } from 'commander';

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description("netlab's built-in web server (what the demo lab's web container runs)")
    .option('-p, --port <port>', 'port to listen on', '80')
    .option('--bind <address>', 'address to listen on (:: for both IPv4 and IPv6)', '0.0.0.0')
    .action(async (o: { port: string; bind: string }) => {
      const { serve } = await import('../../serve.js');
      await serve(Number(o.port), o.bind);
    });
}
