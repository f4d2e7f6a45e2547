/** Thrown when the client went away and its work was cancelled: there is nobody to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client disconnected; its work was cancelled');
    this.name = 'ClientGoneError';
  }
}
