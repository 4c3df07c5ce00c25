/** Entry point the worker bundles: every workflow type mailqueue registers. */
export { emailQueueWorkflow } from './queue-workflow.js';
export { outboxDeliveryWorkflow } from './outbox-delivery-workflow.js';
export { agentWorkflow } from './agent-workflow.js';
