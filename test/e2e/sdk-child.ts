// A stand-in for an app built on the official SDKs: run by `heimdall exec`, it is configured only by
// the environment Heimdall gives it (no baseURL, its own provider keys), and prints one JSON line
// per call: the text it got and how many stream events carried it.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const prompt = process.argv[2] ?? 'hello from an SDK';
const openai = new OpenAI({ apiKey: 'sk-app-own-openai' });
const anthropic = new Anthropic({ apiKey: 'sk-ant-app-own' });

const plain = await openai.chat.completions.create({ model: 'demo-gpt', messages: [{ role: 'user', content: prompt }] });
console.log(JSON.stringify({ call: 'openai.plain', text: plain.choices[0]?.message.content ?? '' }));

let text = '';
let events = 0;
for await (const chunk of await openai.chat.completions.create({ model: 'demo-gpt', messages: [{ role: 'user', content: prompt }], stream: true })) {
  text += chunk.choices[0]?.delta.content ?? '';
  events++;
}
console.log(JSON.stringify({ call: 'openai.stream', text, events }));

const message = await anthropic.messages.create({ model: 'demo-claude', max_tokens: 64, messages: [{ role: 'user', content: prompt }] });
console.log(JSON.stringify({ call: 'anthropic.plain', text: message.content.map((b) => (b.type === 'text' ? b.text : '')).join('') }));

text = '';
events = 0;
for await (const event of anthropic.messages.stream({ model: 'demo-claude', max_tokens: 64, messages: [{ role: 'user', content: prompt }] })) {
  if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
  events++;
}
console.log(JSON.stringify({ call: 'anthropic.stream', text, events }));
