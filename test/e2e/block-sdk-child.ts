// An app built on an official SDK, as a person writes one: configured only by the environment
// Heimdall gives it, it makes one call (argv[2]: openai.plain, openai.stream, anthropic.plain,
// anthropic.stream) and, when the call fails, prints the error's message and exits 1.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const openai = new OpenAI({ apiKey: 'sk-app-own-openai' });
const anthropic = new Anthropic({ apiKey: 'sk-ant-app-own' });
const messages = [{ role: 'user' as const, content: 'hello from an SDK' }];

const calls: Record<string, () => Promise<void>> = {
  'openai.plain': async () => void (await openai.chat.completions.create({ model: 'demo-gpt', messages })),
  'openai.stream': async () => {
    for await (const chunk of await openai.chat.completions.create({ model: 'demo-gpt', messages, stream: true })) void chunk;
  },
  'anthropic.plain': async () => void (await anthropic.messages.create({ model: 'demo-claude', max_tokens: 16, messages })),
  'anthropic.stream': async () => {
    for await (const event of anthropic.messages.stream({ model: 'demo-claude', max_tokens: 16, messages })) void event;
  },
};

try {
  await calls[process.argv[2] ?? '']!();
  console.log('ok');
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 1;
}
