// Time as a dependency, for the agent's rooms: the shared lib/clock.ts the gateway uses too.
export { systemClock, ManualClock, type Clock, type ClockTimer } from '../../../lib/index.ts';
